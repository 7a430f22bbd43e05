"""This process's copy of the public-read counters (`public_versions`, migration 0017), kept current by
LISTEN/NOTIFY so that a cached public answer can be served with no database round trip (api/public.py,
docs/speed.md).

- The deferred bump trigger also does `pg_notify('tanpuhui_public', counter)` in the writing transaction:
  PostgreSQL delivers it to every listening connection when that transaction commits, whoever wrote
  (API, worker, CLI, SQL by hand). The listener thread (store/token_cache.Listener, one connection per
  process for both channels) re-reads the named counters and raises its copy.
- A copy is only ever raised (`merge` keeps the larger count; the counters only grow), so a read that
  began before a commit and arrives after the notification cannot put the older count back.
- The process that answers a write forgets its whole copy right before it answers (`invalidate`, called
  by the API for every request that is not a GET/HEAD/OPTIONS, and after any ORM flush is committed);
  reads that began before that are refused (generation counter), so only counts read after the write
  come back. A request made after the answer therefore never gets the old answer from this process.
- While the listener is not connected, `current()` answers None: every public read asks the database
  (api/public.py's per-request version query), as before.

What remains (docs/speed.md): another process learns of a commit when PostgreSQL's notification reaches its
listener thread and that thread has re-read the counter (one round trip). PostgreSQL signals the listeners at
the commit, before the writer can answer; but the thread needs Python's GIL: measured from the commit's
return, 0.4 ms median (p95 3.5 ms) with the process idle, 11 ms median (p95 75 ms, load average 8) with its
main thread busy, as in an API process at full load. A read sent to *another* process within that window
after a write's commit may still get the previous answer; never one sent to the process that answered it.
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Iterable, Sequence

from sqlalchemy import event
from sqlalchemy.orm import Session

CHANNEL = "tanpuhui_public"
READ_ALL = "SELECT table_name, sum(version) FROM public_versions GROUP BY table_name"
READ_SOME = "SELECT table_name, sum(version) FROM public_versions WHERE table_name = ANY(%s) GROUP BY table_name"


class PublicVersions:
    """counter name → its count (sum of its shards), as last read from the database by this process."""

    def __init__(self) -> None:
        self._known: dict[str, int] = {}
        self._generation = 0
        self._lock = threading.Lock()
        self.listening = False
        _all.add(self)

    def current(self, tables: Sequence[str]) -> tuple[int, ...] | None:
        """The counts of `tables`, or None when they may be out of date (not listening, or forgotten)."""
        if not self.listening:
            return None
        known = self._known
        try:
            return tuple(known[t] for t in tables)
        except KeyError:
            return None

    def generation(self) -> int:
        return self._generation

    def merge(self, counts: Iterable[tuple[str, int]], generation: int, *, complete: Sequence[str] = ()) -> None:
        """Raise the copy to `counts` read since `generation`; `complete`: counters read that had no row (0)."""
        with self._lock:
            if generation != self._generation:
                return  # forgotten since the read began: it may predate the write that caused it
            known = self._known
            for name in complete:
                known.setdefault(name, 0)
            for name, count in counts:
                count = int(count)
                if count > known.get(name, -1):
                    known[name] = count

    def invalidate(self) -> None:
        with self._lock:
            self._generation += 1
            self._known = {}

    def replace(self, counts: Iterable[tuple[str, int]]) -> None:
        """The whole copy as just read (the listener, on connecting: counters may have been reset meanwhile)."""
        with self._lock:
            self._generation += 1
            self._known = {name: int(count) for name, count in counts}


_all: weakref.WeakSet[PublicVersions] = weakref.WeakSet()


def invalidate_all() -> None:
    for versions in list(_all):
        versions.invalidate()


# An ORM write committed in this process (a background job, a route's own commit) forgets the copy too:
# the notification would raise it again, but only once the listener thread gets to it.
@event.listens_for(Session, "after_flush")
def _after_flush(session: Session, _flush_context) -> None:
    session.info["public_written"] = True


@event.listens_for(Session, "after_commit")
def _after_commit(session: Session) -> None:
    if session.info.pop("public_written", False):
        invalidate_all()


@event.listens_for(Session, "after_rollback")
def _after_rollback(session: Session) -> None:
    session.info.pop("public_written", None)
