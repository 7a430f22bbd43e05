from __future__ import annotations

import logging

from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.runtime import Runtime
from temporalio.service import RPCError

from domain.contracts.issuance import SIGNAL_CALENDAR_LOADED

from settings import Settings


async def connect(settings: Settings, runtime: Runtime | None = None) -> Client:
    return await Client.connect(
        settings.require_temporal_address(),
        namespace=settings.temporal_namespace,
        data_converter=pydantic_data_converter,
        runtime=runtime,
    )


async def announce_calendar_loaded(client: Client, case_ids: list[str]) -> list[str]:
    """Tell running cases with a provisional deadline that a calendar year was loaded, so they recompute
    it now (SPEC §3); returns the cases told. A case that ended meanwhile is skipped: it has nothing to
    recompute, and cases also recheck when a provisional end is reached."""
    told = []
    for case_id in case_ids:
        try:
            await client.get_workflow_handle(case_id).signal(SIGNAL_CALENDAR_LOADED)
        except RPCError as err:
            logging.getLogger(__name__).info("calendar loaded: case %s not signalled: %s", case_id, err)
            continue
        told.append(case_id)
    return told
