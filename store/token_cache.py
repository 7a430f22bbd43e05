"""An in-process cache of bearer token → the caller (user and organisation), so that an authenticated
request usually needs no database round trip and no thread hop to know who calls.

Never a revoked token (docs/speed.md):
- An entry is kept only while this process hears every change that could end a token's rights:
  migration 0019 makes PostgreSQL `NOTIFY tanpuhui_auth` when a token is revoked, re-dated or deleted,
  when a user row or an organisation's status changes, whoever writes (API, CLI, SQL by hand); a
  listener thread per process (its own connection, `LISTEN tanpuhui_auth`) empties the cache when one
  arrives. While the listener is not connected (start, lost connection), nothing is cached or served
  from the cache: every request looks its token up, as before.
- The process that makes such a change empties its own cache right after its commit (`changed()` marks
  the session; `after_commit` clears), before it answers: a revocation answered by this process is
  never followed by a cached answer from it. Other processes drop their entries when PostgreSQL
  delivers the notification, which it does at the revoking commit, before that request is answered
  (the listener's side is a thread blocked on the socket: well under a millisecond).
- A lookup racing a change cannot put back what it read before the change: `put` is refused when the
  cache was emptied since the lookup began (generation counter).
- An entry lives until the token's `last_used_at` is due to be written again (a minute) or the token
  expires, whichever is first; then the lookup (and the touch) go to the database as before.
"""

from __future__ import annotations

import logging
import select
import threading
import weakref
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import event, inspect
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value
from sqlalchemy.orm.session import make_transient_to_detached

from store import public_versions
from store.models.identity import Organisation, User
from store.public_versions import PublicVersions

CHANNEL = "tanpuhui_auth"
MAX_ENTRIES = 10_000
log = logging.getLogger(__name__)
_caches: weakref.WeakSet[TokenCache] = weakref.WeakSet()


@dataclass(frozen=True)
class _Entry:
    user: User  # detached, never attached to a session: requests get a merged copy
    fresh_until: datetime


def _detached_copy(user: User) -> User:
    """A detached User (with its organisation) holding only the loaded columns; merged with load=False into
    a request's session it answers what the lookup read, without a query."""
    def copy(obj, cls):
        loaded = inspect(obj).dict
        fresh = cls()
        for attr in inspect(cls).column_attrs:
            if attr.key in loaded:
                set_committed_value(fresh, attr.key, loaded[attr.key])
        return fresh

    fresh = copy(user, User)
    org = copy(user.organisation, Organisation) if user.organisation is not None else None
    if org is not None:
        make_transient_to_detached(org)
    set_committed_value(fresh, "organisation", org)  # no backref event: org.users stays unloaded
    make_transient_to_detached(fresh)
    return fresh


class TokenCache:
    def __init__(self) -> None:
        self._entries: dict[str, _Entry] = {}
        self._generation = 0
        self._lock = threading.Lock()
        self.listening = False
        _caches.add(self)

    def get(self, token_hash: str, now: datetime) -> User | None:
        if not self.listening:
            return None
        entry = self._entries.get(token_hash)
        if entry is None:
            return None
        if now >= entry.fresh_until:
            self._entries.pop(token_hash, None)
            return None
        return entry.user

    def generation(self) -> int:
        return self._generation

    def put(self, token_hash: str, user: User, fresh_until: datetime, generation: int) -> None:
        snapshot = _detached_copy(user)
        with self._lock:
            if not self.listening or generation != self._generation:
                return  # emptied since the lookup began: what it read may be stale
            if len(self._entries) >= MAX_ENTRIES:
                self._entries.clear()
            self._entries[token_hash] = _Entry(snapshot, fresh_until)

    def clear(self) -> None:
        with self._lock:
            self._generation += 1
            self._entries.clear()

    def __len__(self) -> int:
        return len(self._entries)


def changed(session: Session) -> None:
    """This session's transaction changes who may act: empty this process's caches after its commit."""
    session.info["auth_changed"] = True


@event.listens_for(Session, "after_commit")
def _after_commit(session: Session) -> None:
    if session.info.pop("auth_changed", False):
        for cache in list(_caches):
            cache.clear()


@event.listens_for(Session, "after_rollback")
def _after_rollback(session: Session) -> None:
    session.info.pop("auth_changed", None)


class Listener:
    """The thread that keeps `cache` honest: LISTEN on its own connection, empty the cache on every
    notification, and switch the cache off while not connected."""

    def __init__(self, cache: TokenCache, dsn: str, *, retry_seconds: float = 1.0,
                 public: PublicVersions | None = None) -> None:
        # `public`: the public-read counters (store/public_versions.py) ride on the same connection (one
        # connection per process for both channels: max_connections is shared).
        self.cache, self.dsn, self.retry_seconds, self.public = cache, dsn, retry_seconds, public
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="token-cache-listener", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(5)

    def _run(self) -> None:
        import psycopg2

        while not self._stop.is_set():
            conn = None
            try:
                conn = psycopg2.connect(self.dsn)
                conn.autocommit = True
                conn.cursor().execute(f"LISTEN {CHANNEL}")
                self.cache.clear()  # whatever happened while not listening
                self.cache.listening = True
                if self.public is not None:
                    # LISTEN first, then read: a commit after the read is notified, one before it is read.
                    conn.cursor().execute(f"LISTEN {public_versions.CHANNEL}")
                    self._read_public(conn, None)
                    self.public.listening = True
                while not self._stop.is_set():
                    if select.select([conn], [], [], 1.0)[0]:
                        conn.poll()
                        if conn.notifies:
                            counters = {n.payload for n in conn.notifies if n.channel == public_versions.CHANNEL}
                            if len(counters) < len(conn.notifies):
                                self.cache.clear()
                            conn.notifies.clear()
                            if counters and self.public is not None:
                                self._read_public(conn, counters)
            except Exception as exc:  # noqa: BLE001 (the cache is off until the next connection)
                log.warning("token cache listener: %s; lookups go to the database meanwhile", exc)
            finally:
                self.cache.listening = False
                self.cache.clear()
                if self.public is not None:
                    self.public.listening = False
                if conn is not None:
                    try:
                        conn.close()
                    except Exception:  # noqa: BLE001
                        pass
            self._stop.wait(self.retry_seconds)

    def _read_public(self, conn, counters: set[str] | None) -> None:
        """Raise the public counters to what the database holds now (all of them on connecting)."""
        public = self.public
        generation = public.generation()
        with conn.cursor() as cur:
            if counters is None:
                cur.execute(public_versions.READ_ALL)
                public.replace(cur.fetchall())
            else:
                cur.execute(public_versions.READ_SOME, (sorted(counters),))
                public.merge(cur.fetchall(), generation, complete=sorted(counters))
