"""Conditional requests and caching rules for every answer, pages and JSON alike (RFC 9110
§8.8.3 and §13.1.2; RFC 9111 §5.2), as one pure-ASGI middleware, `ConditionalGet`:

* a GET or HEAD answered 200 in one piece (every page and JSON answer; a streamed file is
  not) gets a strong `ETag`, the hash of its body, unless an inner layer set one already
  (static files; the leaderboard's fast path keeps the hash of each cached body). Bodies
  over `MAX_HASHED_BYTES` go without one;
* when the request's `If-None-Match` matches that tag (`*`, or any tag of the list compared
  the weak way, so `W/"x"` matches `"x"`) the answer is 304 with the tag, `Cache-Control`
  and `Vary`, and no body. A value that is not a list of entity-tags, or is longer than
  `MAX_FIELD_BYTES`, is ignored: the full answer is always a correct one;
* HEAD is answered as the GET would be, without the body (FastAPI routes know GET only);
* `Cache-Control` by kind of answer (`cache_control`), unless the route set its own: static
  assets under a content-hashed name (`?v=` as `asset_version` computes it) for a year and
  immutable; leaderboards short; a record longer, a run longer still, a run's log a day;
  a submission's page and the API's JSON `no-cache` (stored, revalidated on every use);
  anything asked with a credential `private`; errors, redirects and writes `no-store`.

Pages vary on `Accept` (a JSON `Accept` is redirected to the page's twin), so they say so.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Awaitable, Callable, Mapping, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

Scope = dict[str, Any]
Message = dict[str, Any]
Send = Callable[[Message], Awaitable[None]]
Headers = list[tuple[bytes, bytes]]

MAX_HASHED_BYTES = 8 << 20  # a bigger body is sent without an ETag (hashing it costs more)
MAX_FIELD_BYTES = 8192  # If-None-Match values past this are ignored
MAX_TAGS = 64
CREDENTIAL_HEADERS = (b"authorization", b"x-speedrun-key-id")

IMMUTABLE = b"public, max-age=31536000, immutable"
NO_STORE = b"no-store"
REVALIDATE = b"public, no-cache"
PRIVATE = b"private, no-cache"
# Page paths (full match) and how long a cache may serve each without asking again: a board
# changes with every record, a record when it is beaten or re-verified, a run hardly ever
# (its record link), a run's log never; a submission's page follows a running job.
PAGE_RULES = (
    (re.compile(r"/runs/[^/]+/log\.txt"), b"public, max-age=86400"),
    (re.compile(r"/runs/[^/]+"), b"public, max-age=600"),
    (re.compile(r"/records/[^/]+"), b"public, max-age=120"),
    (re.compile(r"/take-part"), b"public, max-age=300"),
    (re.compile(r"/(tracks/[^/]+)?"), b"public, max-age=30"),
)
STATIC_SHORT = b"public, max-age=300"
_ELEMENT = re.compile(rb'[ \t]*(?:(?:W/)?"([\x21\x23-\x7e\x80-\xff]*)"[ \t]*)?(?:,|\Z)')
_NOT_MODIFIED_KEEP = frozenset({b"etag", b"cache-control", b"vary", b"content-location"})
_NOT_MODIFIED_KEEP |= {b"date", b"expires"}


def strong_etag(body: bytes) -> bytes:
    """A strong entity-tag for these exact bytes (128 bits of blake2b, quoted)."""
    return b'"' + hashlib.blake2b(body, digest_size=16).hexdigest().encode() + b'"'


def asset_version(data: bytes) -> str:
    """A static file's content version, as its URLs carry it (`/static/site.css?v=...`)."""
    return hashlib.sha256(data).hexdigest()[:12]


def entity_tags(value: bytes) -> list[bytes] | None:
    """The opaque tags of an If-None-Match list (weak and strong alike, without quotes), or
    None when the value is not such a list or is too long (the header is then ignored)."""
    if len(value) > MAX_FIELD_BYTES:
        return None
    tags: list[bytes] = []
    pos = 0
    while pos < len(value):
        m = _ELEMENT.match(value, pos)
        if m is None or m.end() == pos:
            return None
        if m.group(1) is not None:
            tags.append(m.group(1))
            if len(tags) > MAX_TAGS:
                return None
        pos = m.end()
    return tags


def if_none_match(lines: Sequence[bytes]) -> list[bytes] | bool | None:
    """The request's If-None-Match (its header lines' values): True for `*`, the tags of a
    list, or None (absent or ignored). Several lines make one list (RFC 9110 §5.3)."""
    if not lines:
        return None
    value = b", ".join(lines)
    if value.strip(b" \t") == b"*":
        return True
    return entity_tags(value)


def tag_matches(condition: list[bytes] | bool | None, etag: bytes | None) -> bool:
    """Weak comparison (RFC 9110 §8.8.3.2) of the answer's tag with the request's list."""
    if condition is None or condition is False or etag is None:
        return False
    if condition is True:
        return True
    opaque = etag.removeprefix(b"W/").strip(b'"')
    return opaque in condition


def cache_control(
    path: str, query: bytes, credentialed: bool, versions: Mapping[str, str]
) -> bytes:
    """The Cache-Control of a GET answered 200 (or 304) at `path`."""
    if credentialed:
        return PRIVATE
    if path.startswith("/static/"):
        wanted = dict(parse_qsl(query.decode("latin-1"))).get("v")
        current = versions.get(path.removeprefix("/static/"))
        return IMMUTABLE if wanted is not None and wanted == current else STATIC_SHORT
    if path.startswith("/api/") or path in ("/docs", "/redoc"):
        return REVALIDATE
    for pattern, value in PAGE_RULES:
        if pattern.fullmatch(path):
            return value
    return REVALIDATE


def static_versions(folder: Path | None) -> dict[str, str]:
    """Every file's content version in the static folder (one level: the assets are flat)."""
    if folder is None or not folder.is_dir():
        return {}
    return {p.name: asset_version(p.read_bytes()) for p in folder.iterdir() if p.is_file()}


def _header(headers: Headers, name: bytes) -> bytes | None:
    return next((v for k, v in headers if k.lower() == name), None)


def _with_default(headers: Headers, name: bytes, value: bytes) -> Headers:
    return headers if _header(headers, name) is not None else [*headers, (name, value)]


class ConditionalGet:
    def __init__(self, app: Any, static_dir: Path | None = None) -> None:
        self.app = app
        self.versions = static_versions(static_dir)

    async def __call__(self, scope: Scope, receive: Any, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        method = scope["method"]
        if method not in ("GET", "HEAD"):
            await self.app(scope, receive, _NoStore(send).send)
            return
        credentialed, lines = False, []
        for name, value in scope.get("headers", ()):  # ASGI: names in lower case
            if name == b"if-none-match":
                lines.append(value)
            elif name in CREDENTIAL_HEADERS:
                credentialed = True
        path = scope.get("path", "")
        policy = cache_control(path, scope.get("query_string", b""), credentialed, self.versions)
        is_page = not path.startswith(("/api/", "/static/", "/docs", "/redoc"))
        condition = if_none_match(lines)
        answer = _Answer(send, policy, condition, head=method == "HEAD", vary_accept=is_page)
        if method == "HEAD":
            scope = {**scope, "method": "GET"}
        await self.app(scope, receive, answer.send)


class _NoStore:
    """Writes: whatever they answer is not to be stored."""

    def __init__(self, send: Send) -> None:
        self._send = send

    async def send(self, message: Message) -> None:
        if message["type"] == "http.response.start":
            headers = list(message.get("headers", []))
            message = {**message, "headers": _with_default(headers, b"cache-control", NO_STORE)}
        await self._send(message)


class _Answer:
    """One GET's answer on its way out: held back at its start until the tag is known."""

    def __init__(
        self,
        send: Send,
        policy: bytes,
        condition: list[bytes] | bool | None,
        *,
        head: bool,
        vary_accept: bool,
    ) -> None:
        self._send = send
        self.policy = policy
        self.condition = condition
        self.head = head
        self.vary_accept = vary_accept  # a page: a JSON Accept would have been redirected
        self.mode = "start"  # -> hold (tag to compute) | pass | drop (304 sent)
        self.start: Message = {}

    async def send(self, message: Message) -> None:
        if message["type"] == "http.response.start":
            await self._on_start(message)
        elif message["type"] == "http.response.body":
            await self._on_body(message)
        else:
            await self._send(message)

    async def _on_start(self, message: Message) -> None:
        status = message["status"]
        headers = list(message.get("headers", []))
        if status not in (200, 304):
            self.mode = "pass"
            headers = _with_default(headers, b"cache-control", NO_STORE)
            await self._send({**message, "headers": headers})
            return
        headers = _with_default(headers, b"cache-control", self.policy)
        if self.vary_accept:
            headers = _with_default(headers, b"vary", b"Accept")
        etag = _header(headers, b"etag")
        if status == 200 and tag_matches(self.condition, etag):
            await self._not_modified(headers)
        elif status == 304 or etag is not None:
            self.mode = "pass"
            await self._send({**message, "headers": headers})
        else:
            self.mode, self.start = "hold", {**message, "headers": headers}

    async def _on_body(self, message: Message) -> None:
        if self.mode == "drop":
            return
        if self.mode == "hold":
            self.mode = "pass"
            body = message.get("body", b"")
            if not message.get("more_body", False) and len(body) <= MAX_HASHED_BYTES:
                etag = strong_etag(body)
                self.start["headers"] = [*self.start["headers"], (b"etag", etag)]
                if tag_matches(self.condition, etag):
                    await self._not_modified(self.start["headers"])
                    return
            await self._send(self.start)
        if self.head:  # the GET's headers (its length too), no body
            if not message.get("more_body", False):
                await self._send({"type": "http.response.body", "body": b""})
            return
        await self._send(message)

    async def _not_modified(self, headers: Headers) -> None:
        """304: the validators and caching rules the 200 would carry, nothing about the body."""
        self.mode = "drop"
        kept = [(k, v) for k, v in headers if k.lower() in _NOT_MODIFIED_KEEP]
        await self._send({"type": "http.response.start", "status": 304, "headers": kept})
        await self._send({"type": "http.response.body", "body": b""})
