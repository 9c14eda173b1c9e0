"""Pure-ASGI middleware.

`CachedLeaderboard`: a shortcut for cached leaderboard answers: a hit is sent straight from
the page cache (`server.services.cache`), before routing, parameter validation and
dependency injection, so the busiest read costs about what a trivial endpoint does (with the
body's ETag, hashed once per cached body, for `server.http_cache`). Misses
(and every request while the cache's stamp is due to be re-read) go through the app as
usual, where the route reads the stamp, and builds and caches the answer if need be.

`WriteRateLimit`: every write (POST, PUT, PATCH, DELETE, to any path) is charged to a token
bucket (`server.services.rate_limit`): at once to the client's address when it carries no
credential, else by the dependency that checks the credential (`server.deps`). Reads are
never limited.

`SecurityHeaders`: a strict Content-Security-Policy, nosniff, no referrer and no framing on
every response (the outermost layer, so cached answers and errors get them too)."""

from __future__ import annotations

import base64
import contextlib
import hashlib
import re
from collections import OrderedDict
from typing import Any

from server.http_cache import strong_etag
from server.problems import RateLimited, problem
from server.services.cache import PageCache
from server.services.leaderboard import raw_key
from server.services.rate_limit import PENDING_CHARGE, PendingCharge, TokenBuckets, refusal

PREFIX, SUFFIX = "/api/v1/tracks/", "/leaderboard"
ETAG_MEMO = 64
Scope = dict[str, Any]


class CachedLeaderboard:
    def __init__(self, app: Any, cache: PageCache) -> None:
        self.app = app
        self.cache = cache
        # The strong ETag of the hottest cached bodies (`server.http_cache`), so a hit hashes
        # nothing: key -> (the body object it was computed for, its tag). Touched by the
        # event loop alone; the least recently used go past ETAG_MEMO entries, so the old
        # bodies it holds on to stay few.
        self._etags: OrderedDict[object, tuple[bytes, bytes]] = OrderedDict()

    def etag(self, key: object, body: bytes) -> bytes:
        known = self._etags.get(key)
        if known is not None and known[0] is body:
            self._etags.move_to_end(key)
            return known[1]
        tag = strong_etag(body)
        self._etags[key] = (body, tag)
        self._etags.move_to_end(key)
        if len(self._etags) > ETAG_MEMO:
            self._etags.popitem(last=False)
        return tag

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        path = scope.get("path", "")
        if (
            scope["type"] == "http"
            and scope["method"] == "GET"
            and path.startswith(PREFIX)
            and path.endswith(SUFFIX)
        ):
            key = raw_key(path, scope.get("query_string", b""))
            hit = self.cache.peek(key)
            if isinstance(hit, bytes):
                await _send_json(send, hit, self.etag(key, hit))
                return
        await self.app(scope, receive, send)


async def _send_json(send: Any, body: bytes, etag: bytes) -> None:
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    headers.append((b"etag", etag))
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": body})


READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
CREDENTIAL_HEADERS = (b"authorization", b"x-speedrun-key-id")


class WriteRateLimit:
    def __init__(self, app: Any, buckets: TokenBuckets | None) -> None:
        self.app = app
        self.buckets = buckets  # None: no limit

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if self.buckets is None or scope["type"] != "http" or scope["method"] in READ_METHODS:
            await self.app(scope, receive, send)
            return
        client = scope.get("client")
        address = f"address {client[0] if client else 'unknown'}"
        if not any(name in CREDENTIAL_HEADERS for name, _ in scope.get("headers", ())):
            wait = self.buckets.take(address)
            if wait is not None:
                exc = refusal(address, wait)
                answer = problem(exc.status, exc.code, exc.title, exc.detail, exc.headers)
                await answer(scope, receive, send)
                return
            await self.app(scope, receive, send)
            return
        pending = PendingCharge(self.buckets, address)
        scope.setdefault("state", {})[PENDING_CHARGE] = pending
        try:
            await self.app(scope, receive, send)
        finally:
            if not pending.settled:  # no route checked the credential: the address pays
                with contextlib.suppress(RateLimited):
                    pending.settle(None)


# Pages and API alike: no inline script or style anywhere, nothing from other origins, never
# framed. The API docs (Swagger UI from a CDN with one inline bootstrap script) get a policy of
# their own, the inline script allowed by its hash only.
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; "
    "connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'none'; "
    "form-action 'self'; frame-ancestors 'none'"
)
DOCS_PATHS = ("/docs", "/redoc")
DOCS_CDN = "https://cdn.jsdelivr.net"
SECURITY_HEADERS = [
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"x-frame-options", b"DENY"),
    (b"cross-origin-opener-policy", b"same-origin"),
]
_INLINE_SCRIPT = re.compile(rb"<script>(.*?)</script>", re.DOTALL)


def docs_csp(body: bytes) -> str:
    hashes = " ".join(
        "'sha256-" + base64.b64encode(hashlib.sha256(m).digest()).decode() + "'"
        for m in _INLINE_SCRIPT.findall(body)
    )
    return (
        f"default-src 'self'; script-src 'self' {DOCS_CDN} {hashes}; worker-src 'self' blob:; "
        # Swagger UI sets style attributes; the docs show no untrusted text.
        f"style-src 'self' 'unsafe-inline' {DOCS_CDN}; "
        "img-src 'self' data: https://fastapi.tiangolo.com; "
        "object-src 'none'; base-uri 'none'; frame-ancestors 'none'"
    )


class SecurityHeaders:
    """Adds the Content-Security-Policy and friends to every HTTP response."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if scope.get("path", "") in DOCS_PATHS:
            await self._docs(scope, receive, send)
            return

        async def send_with_headers(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = _with_headers(message.get("headers", []), CSP)
            await send(message)

        await self.app(scope, receive, send_with_headers)

    async def _docs(self, scope: Scope, receive: Any, send: Any) -> None:
        """Buffer the (small) docs page to hash its inline script into the policy."""
        start: dict[str, Any] = {}
        chunks: list[bytes] = []

        async def buffer(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                start.update(message)
                return
            chunks.append(message.get("body", b""))
            if not message.get("more_body", False):
                body = b"".join(chunks)
                start["headers"] = _with_headers(start.get("headers", []), docs_csp(body))
                await send(start)
                await send({"type": "http.response.body", "body": body})

        await self.app(scope, receive, buffer)


def _with_headers(headers: Any, csp: str) -> list[tuple[bytes, bytes]]:
    out = [(k, v) for k, v in headers if k.lower() != b"content-security-policy"]
    out.append((b"content-security-policy", csp.encode()))
    present = {k.lower() for k, _ in out}
    out.extend(h for h in SECURITY_HEADERS if h[0] not in present)
    return out
