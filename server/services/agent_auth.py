"""Checking agent requests signed by a runner's Ed25519 key (the key that signs its bundles);
the scheme and the signing side live in `speedrun.agentauth`, shared with `speedrun agent`.

Headers: `X-Speedrun-Key-Id` (the runner's key id), `X-Speedrun-Timestamp` (Unix seconds),
`X-Speedrun-Nonce` (random, 8-64 characters, fresh per request), `X-Speedrun-Signature`
(base64 Ed25519 signature over the UTF-8 text
`METHOD\\nPATH?QUERY\\nTIMESTAMP\\nNONCE\\nSHA256(BODY) hex`). The server refuses unknown or
revoked keys, timestamps further than `signature_skew_s` from its clock, and a nonce it has
seen before from the same key within that window (a replay).
"""

from __future__ import annotations

import threading
from collections.abc import Mapping

from sqlalchemy.orm import Session

from server.models import Runner
from server.problems import Unauthorized
from server.services.runners import active_runner
from speedrun import signing
from speedrun.agentauth import (
    KEY_HEADER,
    NONCE_HEADER,
    SIG_HEADER,
    TIME_HEADER,
    sign_request,
    signed_text,
)

__all__ = ["ReplayGuard", "authenticate_agent", "sign_request"]


class ReplayGuard:
    """(key id, nonce) pairs seen within the skew window; a second use of one is a replay."""

    def __init__(self) -> None:
        self._seen: dict[str, float] = {}
        self._lock = threading.Lock()

    def check(self, nonce_key: str, now: float, window_s: float) -> None:
        with self._lock:
            if len(self._seen) > 10_000:
                self._seen = {s: t for s, t in self._seen.items() if t > now - 2 * window_s}
            if nonce_key in self._seen:
                raise Unauthorized("replayed-signature", "this request's nonce was used before")
            self._seen[nonce_key] = now


def authenticate_agent(
    session: Session,
    headers: Mapping[str, str],
    method: str,
    path: str,
    body: bytes,
    *,
    skew_s: float,
    now: float,
    replay: ReplayGuard,
) -> Runner:
    names = (KEY_HEADER, TIME_HEADER, NONCE_HEADER, SIG_HEADER)
    key_id, stamp, nonce, sig = (headers.get(h) for h in names)
    if not key_id or not stamp or not nonce or not sig:
        raise Unauthorized("missing-signature", f"agent requests need {', '.join(names)}")
    if not 8 <= len(nonce) <= 64:
        raise Unauthorized("bad-signature", f"{NONCE_HEADER} must be 8 to 64 characters")
    try:
        stamp_s = int(stamp)
    except ValueError:
        raise Unauthorized("bad-signature", f"{TIME_HEADER} is not an integer") from None
    if abs(now - stamp_s) > skew_s:
        raise Unauthorized(
            "stale-signature", f"timestamp more than {skew_s:.0f} s from the server's clock"
        )
    runner = active_runner(session, key_id)
    if runner is None:
        raise Unauthorized("unknown-runner", f"key {key_id[:16]!r} is not an active runner")
    public = signing.public_key_from_b64(runner.public_key)
    if not signing.verify(public, signed_text(method, path, stamp, nonce, body), sig):
        raise Unauthorized("bad-signature", "the request signature does not verify")
    replay.check(f"{key_id}:{nonce}", now, skew_s)
    return runner
