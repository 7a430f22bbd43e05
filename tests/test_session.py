"""store.session.autocommit: each statement its own transaction inside the block, the connection back
to transactions after it (also after an error), and inside an open transaction simply part of it."""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import text

from store.session import autocommit


@pytest.fixture
def scratch(engine):
    name = f"t_autocommit_{uuid.uuid4().hex[:8]}"
    with engine.begin() as conn:
        conn.execute(text(f"CREATE TABLE {name} (x int)"))
    yield name
    with engine.begin() as conn:
        conn.execute(text(f"DROP TABLE {name}"))


def test_autocommit_commits_each_statement_and_leaves_the_connection_as_it_came(session_factory, engine, scratch):
    def count() -> int:
        with engine.connect() as other:
            return other.execute(text(f"SELECT count(*) FROM {scratch}")).scalar_one()

    with session_factory() as s:
        with autocommit(s):
            s.execute(text(f"INSERT INTO {scratch} VALUES (1)"))
            assert count() == 1  # committed already, before the block ends
        s.execute(text(f"INSERT INTO {scratch} VALUES (2)"))
        s.rollback()  # the connection is transactional again
        assert count() == 1
        with pytest.raises(ZeroDivisionError), autocommit(s):
            s.execute(text(f"INSERT INTO {scratch} VALUES (3)"))
            1 / 0  # noqa: B018
        assert count() == 2 and not s.in_transaction()
        s.execute(text(f"INSERT INTO {scratch} VALUES (4)"))
        with autocommit(s):  # inside an open transaction: part of it
            s.execute(text(f"INSERT INTO {scratch} VALUES (5)"))
        s.rollback()
        assert count() == 2
