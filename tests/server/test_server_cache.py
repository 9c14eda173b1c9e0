"""The leaderboard cache: per-track invalidation, and stale answers served while exactly one
request rebuilds them."""

from __future__ import annotations

import time

from server.services import catalog
from server.services.leaderboard import LeaderboardCache, raw_key


def test_stale_answers_are_served_while_one_caller_rebuilds():
    cache = LeaderboardCache(ttl_s=0.05)
    smoke, tiny = catalog.track("cpu-smoke"), catalog.track("cpu-tiny")
    key = raw_key("/api/v1/tracks/cpu-smoke/leaderboard", b"limit=5")
    other = raw_key("/api/v1/tracks/cpu-tiny/leaderboard", b"")
    loads = []
    body = cache.build(key, smoke, 5, 0, lambda: loads.append(1) or [])
    cache.build(other, tiny, 100, 0, lambda: [])
    assert cache.lookup(key) == (body, True) and len(loads) == 1
    time.sleep(0.06)
    assert cache.lookup(key) == (body, False)  # stale, still served
    assert cache.claim_refresh(key) is True
    assert cache.claim_refresh(key) is False  # everyone else gets the stale bytes
    cache.build(key, smoke, 5, 0, lambda: loads.append(1) or [])
    assert len(loads) == 2 and cache.lookup(key)[1] is True
    assert cache.claim_refresh(key) is True  # the refresh claim was released
    cache.invalidate(smoke.key)
    assert cache.lookup(key) is None  # a write to the track drops its answers at once
    assert cache.lookup(other) is not None  # and only its answers
