"""Migrations and models agree, and every migration can be undone and redone."""

from __future__ import annotations

import uuid

import psycopg2
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import create_engine
from sqlalchemy.engine import make_url

from store.base import Base
from store.migrate import alembic_config
from store.session import normalise_url


def test_models_match_migrations(engine):
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}), Base.metadata)
    assert diff == []


def test_downgrade_to_base_and_upgrade_again(admin_database_url):
    name = f"tanpuhui_mig_{uuid.uuid4().hex[:8]}"
    admin_dsn = make_url(normalise_url(admin_database_url)).render_as_string(hide_password=False).replace(
        "postgresql+psycopg2", "postgresql")
    admin = psycopg2.connect(admin_dsn)
    admin.autocommit = True
    admin.cursor().execute(f'CREATE DATABASE "{name}"')
    try:
        url = make_url(normalise_url(admin_database_url)).set(database=name).render_as_string(hide_password=False)
        cfg = alembic_config(url)
        command.upgrade(cfg, "head")
        command.downgrade(cfg, "base")
        command.upgrade(cfg, "head")
        eng = create_engine(url)
        with eng.connect() as conn:
            assert compare_metadata(MigrationContext.configure(conn), Base.metadata) == []
        eng.dispose()
    finally:
        admin.cursor().execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()
