"""Checking agent requests signed by a runner's Ed25519 key (the key that signs its bundles);
the scheme and the signing side live in `speedrun.agentauth`, shared with `speedrun agent`.

Headers: `X-Speedrun-Key-Id` (the runner's key id), `X-Speedrun-Timestamp` (Unix seconds),
`X-Speedrun-Nonce` (random, 8-64 characters, fresh per request), `X-Speedrun-Signature`
(base64 Ed25519 signature over the UTF-8 text
`METHOD\\nPATH?QUERY\\nTIMESTAMP\\nNONCE\\nSHA256(BODY) hex`). The server refuses unknown or
revoked keys, timestamps further than `signature_skew_s` from its clock, and a nonce the
same key used before within that window (a replay).

Used nonces live in the database (`agent_nonces`), not in a process's memory: every worker
of one deployment sees the same set, a restart forgets nothing, and the table's primary key
(key id, nonce) lets exactly one of two workers accept a request both received. A nonce is
kept until its request's timestamp leaves the skew window (then the timestamp alone refuses
it); each accepted request purges the rows that have expired.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime

from sqlalchemy import delete
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from server.db import Database
from server.models import AgentNonce, Runner
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

__all__ = ["NonceStore", "authenticate_agent", "sign_request"]


class NonceStore:
    """The (key id, nonce) pairs of accepted agent requests, shared through the database."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def use(self, key_id: str, nonce: str, *, expires_s: float, now_s: float) -> None:
        """Record the nonce as used until `expires_s`, or raise 401 if it was used before."""
        now = datetime.fromtimestamp(now_s, UTC)
        try:
            with self.db.write() as session:
                session.execute(delete(AgentNonce).where(AgentNonce.expires_at < now))
                expires_at = datetime.fromtimestamp(expires_s, UTC)
                session.add(AgentNonce(key_id=key_id, nonce=nonce, expires_at=expires_at))
        except IntegrityError:
            raise Unauthorized(
                "replayed-signature", "this request's nonce was used before (a replay)"
            ) from None


def authenticate_agent(
    session: Session,
    headers: Mapping[str, str],
    method: str,
    path: str,
    body: bytes,
    *,
    skew_s: float,
    now: float,
    nonces: NonceStore,
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
    nonces.use(runner.key_id, nonce, expires_s=stamp_s + skew_s + 1, now_s=now)
    return runner
