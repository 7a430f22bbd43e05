"""Engine and session factory; one session per request or per activity call."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from contextlib import contextmanager

import psycopg2
from sqlalchemy import Engine, create_engine
from sqlalchemy.orm import Session, sessionmaker


def normalise_url(url: str) -> str:
    # Accept plain postgres:// URLs as most tools print them; the driver is psycopg2.
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg2://" + url[len(prefix):]
    return url


def make_engine(url: str, **kwargs) -> Engine:
    # Sized for the activity thread pool plus the API's threads: a connection that overflows the pool
    # is closed on return, and reconnecting per activity costs more than the work itself.
    kwargs.setdefault("pool_size", 30)
    kwargs.setdefault("max_overflow", 10)
    # Connections are recycled instead of pinged before every checkout (a round trip per activity).
    kwargs.setdefault("pool_recycle", 1800)
    return create_engine(normalise_url(url), **kwargs)


def make_session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False)


@contextmanager
def transaction(factory: sessionmaker[Session]) -> Iterator[Session]:
    """A session whose work commits on success and rolls back on any error."""
    with factory() as session, session.begin():
        yield session


@contextmanager
def autocommit(session: Session) -> Iterator[Session]:
    """Run the block's statements each as its own transaction: no BEGIN and COMMIT round trips, and
    whatever a statement locks is released when it ends. For single-statement work (a token lookup, a
    trade that is one function call). Inside an open transaction the block simply runs in it.

    psycopg2's own `autocommit` switch is used: SQLAlchemy's isolation_level="AUTOCOMMIT" option makes
    psycopg2 send a `SET default_transaction_isolation` round trip each time the connection goes back
    to the pool. The connection leaves the block as it came (a new transaction on its next statement)
    and goes back to the pool.
    """
    if session.in_transaction():
        yield session
        return
    raw = session.connection().connection.dbapi_connection
    raw.autocommit = True  # type: ignore[union-attr]
    try:
        yield session
    except BaseException:
        with contextlib.suppress(psycopg2.Error):  # a connection that died is discarded by the pool
            raw.autocommit = False  # type: ignore[union-attr]
        session.rollback()  # nothing to roll back in the database: gives the connection back
        raise
    raw.autocommit = False  # type: ignore[union-attr]
    session.commit()  # psycopg2 sends nothing: gives the connection back
