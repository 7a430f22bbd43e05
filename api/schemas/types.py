"""Input types shared by the API schemas."""

from __future__ import annotations

import re
from datetime import date, datetime
from typing import Annotated, Any

from pydantic import AwareDatetime, BeforeValidator
from pydantic_core import PydanticCustomError

_NUMBER = re.compile(r"^\s*[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?\s*$")


def _iso_text(value: Any) -> Any:
    # Pydantic would read a number (or a numeric string) as a Unix timestamp: `on=1.4e-45` became 1970-01-01.
    # Dates and instants come in as ISO 8601 text only.
    if isinstance(value, (int, float)) or (isinstance(value, str) and _NUMBER.match(value)):
        raise PydanticCustomError("iso_8601", "write dates as YYYY-MM-DD and instants as ISO 8601 with an offset, "
                                              "not as a number")
    return value


IsoDate = Annotated[date, BeforeValidator(_iso_text)]
IsoDatetime = Annotated[datetime, BeforeValidator(_iso_text)]
IsoAwareDatetime = Annotated[AwareDatetime, BeforeValidator(_iso_text)]
