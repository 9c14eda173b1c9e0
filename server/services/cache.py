"""The one cache of built pages and answers: the API's leaderboard bodies, a track's ranked
entries (shared by the API and the pages), the pages' board rows and progression charts.

One rule for every entry: it is served only while the change stamp it was built at is still
the current stamp. The stamp is (writes made by this process, the database's change
counters):

* every write in this process calls `invalidate()` (the write routes do, after their
  transaction), which bumps the first part at once and has the second re-read;
* writes made elsewhere (the CLI's import, another worker) move the second part: every
  track's write counter (bumped by each ingest and import, in its transaction), the newest
  run and the newest verification. It is re-read from the database by the first reader
  after `ttl_s`; while one reader re-reads it, the others go on with the stamp they know.

When the stamp moves every entry goes; at most `max_entries` are kept, the least recently
used dropped first. Thread-safe (sync routes run in a threadpool): one build at a time, so a
miss never stampedes, and a request that waited for a build finds it built.
"""

from __future__ import annotations

import math
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import TypeVar, cast

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from server.models import Run, TrackState, Verification

T = TypeVar("T")
DbStamp = tuple[int, int, int]
Stamp = tuple[int, DbStamp]
_MISSING = object()


def db_stamp(session: Session) -> DbStamp:
    """The database's change counters: the sum of the tracks' write counters, the newest run
    and the newest verification (one query)."""
    row = session.execute(
        select(
            select(func.coalesce(func.sum(TrackState.revision), 0)).scalar_subquery(),
            select(func.coalesce(func.max(Run.id), 0)).scalar_subquery(),
            select(func.coalesce(func.max(Verification.id), 0)).scalar_subquery(),
        )
    ).one()
    return int(row[0]), int(row[1]), int(row[2])


class PageCache:
    def __init__(self, ttl_s: float, max_entries: int = 1024) -> None:
        self.ttl_s = ttl_s
        self.max_entries = max_entries
        self._lock = threading.Lock()  # guards the fields below
        self._poll = threading.Lock()  # one reader re-reads the database's counters at a time
        self._build = threading.RLock()  # one build at a time (builds may nest)
        self._writes = 0
        self._db: DbStamp | None = None
        self._read_at = -math.inf
        self._entries: OrderedDict[Hashable, object] = OrderedDict()

    def invalidate(self, track_key: str | None = None) -> None:
        """A write in this process: every entry goes at once (one stamp for every page, so
        `track_key`, which some callers know, changes nothing)."""
        with self._lock:
            self._writes += 1
            self._read_at = -math.inf
            self._entries.clear()

    def peek(self, key: Hashable) -> object | None:
        """The entry for `key`, without touching the database: None when there is none, or
        when the stamp is due to be re-read (the caller then goes through `get`)."""
        with self._lock:
            if self._db is None or self._due():
                return None
            value = self._entries.get(key, _MISSING)
            if value is _MISSING:
                return None
            self._entries.move_to_end(key)
            return value

    def get(self, session: Session, key: Hashable, build: Callable[[], T]) -> T:
        """The entry for `key` at the current stamp, built (by `build`, reading through
        `session`) when there is none."""
        stamp = self.stamp(session)
        value = self._hit(key)
        if value is not _MISSING:
            return cast(T, value)
        with self._build:
            value = self._hit(key)
            if value is _MISSING:
                value = build()
                self._put(key, stamp, value)
        return cast(T, value)

    def stamp(self, session: Session) -> Stamp:
        """The current stamp; its database part re-read when due (by one reader at a time,
        unless none is known yet)."""
        with self._lock:
            due, known = self._due() or self._db is None, self._db is not None
        if due and self._poll.acquire(blocking=not known):
            try:
                self._reread(session)
            finally:
                self._poll.release()
        with self._lock:
            assert self._db is not None
            return self._writes, self._db

    def _reread(self, session: Session) -> None:
        with self._lock:
            writes = self._writes
        counters = db_stamp(session)
        with self._lock:
            if counters != self._db:
                self._entries.clear()
                self._db = counters
            if writes == self._writes:  # else a write came meanwhile: read again next time
                self._read_at = time.monotonic()

    def _due(self) -> bool:
        return time.monotonic() - self._read_at > self.ttl_s

    def _hit(self, key: Hashable) -> object:
        with self._lock:
            value = self._entries.get(key, _MISSING)
            if value is not _MISSING:
                self._entries.move_to_end(key)
            return value

    def _put(self, key: Hashable, stamp: Stamp, value: object) -> None:
        with self._lock:
            if stamp != (self._writes, self._db):  # the stamp moved while it was built
                return
            self._entries[key] = value
            while len(self._entries) > self.max_entries:
                self._entries.popitem(last=False)
