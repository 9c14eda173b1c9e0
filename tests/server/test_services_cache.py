"""The one page cache (`server.services.cache`): entries live while the change stamp they
were built at is current; a write in this process moves the stamp at once, a write made
elsewhere once the database's counters are re-read (after the TTL); bounded; one build at a
time under concurrent readers."""

from __future__ import annotations

import threading
import time

from server.models import TrackState
from server.services.cache import PageCache, db_stamp
from server.services.leaderboard import raw_key


def _bump(db) -> None:
    """A write made elsewhere: a track's write counter moves, as an ingest's does."""
    with db.write() as s:
        s.add(TrackState(track_id="cpu-smoke", track_version=99, revision=1))


def test_entries_live_while_the_stamp_does(db):
    cache = PageCache(ttl_s=60.0)
    builds: list[int] = []
    with db.reader() as s:
        assert cache.get(s, "a", lambda: builds.append(1) or "A") == "A"
        assert cache.get(s, "a", lambda: builds.append(1) or "B") == "A"
        assert cache.peek("a") == "A" and cache.peek("b") is None and len(builds) == 1
        cache.invalidate("cpu-smoke")  # a write in this process: every entry goes, any track
        assert cache.peek("a") is None
        assert cache.get(s, "a", lambda: "C") == "C"


def test_writes_made_elsewhere_are_seen_after_the_ttl(db):
    cache = PageCache(ttl_s=60.0)
    with db.reader() as s:
        cache.get(s, "a", lambda: "A")
    _bump(db)
    assert cache.peek("a") == "A"  # not re-read yet: the TTL bounds how long this lasts
    cache.ttl_s = 0.0  # the TTL passed
    assert cache.peek("a") is None  # due: the next reader re-reads the counters
    with db.reader() as s:
        assert cache.get(s, "a", lambda: "B") == "B"
        assert cache.get(s, "a", lambda: "C") == "B"  # re-read again, nothing changed: kept


def test_the_stamp_counts_tracks_runs_and_verifications(db):
    with db.reader() as s:
        before = db_stamp(s)
    _bump(db)
    with db.reader() as s:
        after = db_stamp(s)
    assert after == (before[0] + 1, before[1], before[2])


def test_a_build_that_saw_a_write_is_not_kept(db):
    cache = PageCache(ttl_s=60.0)
    with db.reader() as s:
        assert cache.get(s, "a", lambda: cache.invalidate() or "old") == "old"
        assert cache.peek("a") is None


def test_bounded_least_recently_used_first(db):
    cache = PageCache(ttl_s=60.0, max_entries=2)
    with db.reader() as s:
        cache.get(s, "a", lambda: 1)
        cache.get(s, "b", lambda: 2)
        cache.get(s, "a", lambda: 0)  # a used again: b is now the oldest
        cache.get(s, "c", lambda: 3)
    assert (cache.peek("a"), cache.peek("b"), cache.peek("c")) == (1, None, 3)


def test_concurrent_readers_build_once(db):
    cache = PageCache(ttl_s=60.0)
    builds: list[int] = []
    results: list[bytes] = []

    def build() -> bytes:
        builds.append(1)
        time.sleep(0.05)
        return b"body"

    def read() -> None:
        with db.reader() as s:
            results.append(cache.get(s, raw_key("/api/v1/tracks/x/leaderboard", b""), build))

    threads = [threading.Thread(target=read) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == [b"body"] * 8 and len(builds) == 1


def test_api_and_pages_share_one_stamp(client, db):
    cache = client.app.state.speedrun.cache
    assert client.get("/").status_code == 200
    board = client.get("/api/v1/tracks/cpu-smoke/leaderboard")
    key = raw_key("/api/v1/tracks/cpu-smoke/leaderboard", b"")
    assert cache.peek(key) == board.content
    assert cache.peek(("records", "cpu-smoke@v2")) == []  # the entries both sides read
    cache.invalidate()
    assert cache.peek(key) is None and cache.peek(("records", "cpu-smoke@v2")) is None
    client.get("/api/v1/tracks/cpu-smoke/leaderboard")
    _bump(db)  # another process's write: seen once the counters are re-read
    assert cache.peek(key) is not None
    cache.ttl_s = 0.0
    client.get("/")  # a page re-reads the counters: the API's answers go too
    cache.ttl_s = 60.0
    assert cache.peek(key) is None
