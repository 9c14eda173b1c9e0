"""server.services.leaderboard: a track's records ranked as the board shows them (fastest
mean time first, ties by id), a record's rank counted in SQL agreeing with the board's, a
record with its runs, and leaderboard answers cut into pages and cached per request."""

from __future__ import annotations

import json

import pytest
from support.bundles import TRACK, claim_runs

from server.problems import NotFound
from server.services.cache import PageCache
from server.services.leaderboard import leaderboard_body, raw_key, record_public, track_records
from speedrun.tracks import get_track

TINY = get_track(TRACK)


@pytest.fixture
def two_records(client, runner_key, token) -> list[int]:
    """The second is faster, so it supersedes the first and ranks first."""
    slow = claim_runs(
        client, runner_key, token, "print('slow')\n", [2000.0, 2004.0, 2002.0]
    ).records
    fast = claim_runs(
        client, runner_key, token, "print('fast')\n", [1000.0, 1004.0, 1002.0]
    ).records
    return [*slow, *fast]


def test_records_are_ranked_by_time_and_ranks_agree(db, two_records) -> None:
    slow, fast = two_records
    with db.reader() as session:
        board = track_records(session, TINY)
        assert [(e.rank, e.record_id) for e in board] == [(1, fast), (2, slow)]
        assert [e.status for e in board] == ["current", "superseded"]
        for entry in board:
            public = record_public(session, entry.record_id)
            assert public.rank == entry.rank and len(public.runs) == 3
        assert track_records(session, get_track("cpu-smoke")) == []


def test_an_unknown_record_is_not_found(db) -> None:
    with db.reader() as session, pytest.raises(NotFound):
        record_public(session, 4242)


def test_answers_are_paged_and_cached_per_request(db, two_records) -> None:
    cache = PageCache(60.0)
    key = raw_key(f"/api/v1/tracks/{TRACK}/leaderboard", b"limit=1&offset=1")
    assert key == ("leaderboard", f"/api/v1/tracks/{TRACK}/leaderboard?limit=1&offset=1")
    with db.reader() as session:
        body = leaderboard_body(session, cache, key, TINY, limit=1, offset=1)
        page = json.loads(body)
        assert page["total"] == 2 and page["limit"] == 1 and page["offset"] == 1
        assert [e["record_id"] for e in page["entries"]] == [two_records[0]]
        assert leaderboard_body(session, cache, key, TINY, limit=1, offset=1) is body  # cached
