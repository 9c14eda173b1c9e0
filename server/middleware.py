"""A pure-ASGI shortcut for cached leaderboard answers: a hit is sent straight from the
cache, before routing, parameter validation and dependency injection, so the busiest read
costs about what a trivial endpoint does. Misses (and one request per stale answer) go
through the app as usual, where the route builds and caches the answer."""

from __future__ import annotations

from typing import Any

from server.services.leaderboard import LeaderboardCache, raw_key

PREFIX, SUFFIX = "/api/v1/tracks/", "/leaderboard"
Scope = dict[str, Any]


class CachedLeaderboard:
    def __init__(self, app: Any, cache: LeaderboardCache) -> None:
        self.app = app
        self.cache = cache

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        path = scope.get("path", "")
        if (
            scope["type"] == "http"
            and scope["method"] == "GET"
            and path.startswith(PREFIX)
            and path.endswith(SUFFIX)
        ):
            key = raw_key(path, scope.get("query_string", b""))
            hit = self.cache.lookup(key)
            if hit is not None and (hit[1] or not self.cache.claim_refresh(key)):
                await _send_json(send, hit[0])
                return
        await self.app(scope, receive, send)


async def _send_json(send: Any, body: bytes) -> None:
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": body})
