"""Signed agent requests: what an agent sends and what the server checks (shared by both).

An agent signs every job request with its runner key (the key that signs its bundles).
Headers: `X-Speedrun-Key-Id`, `X-Speedrun-Timestamp` (Unix seconds), `X-Speedrun-Nonce`
(fresh per request, 8-64 characters) and `X-Speedrun-Signature`: base64 Ed25519 over the
UTF-8 text `METHOD\\nPATH?QUERY\\nTIMESTAMP\\nNONCE\\nSHA256(BODY) hex`. The server
accepts a (key, nonce) pair once, on every worker and across restarts (it keeps used nonces
in its database until the timestamp leaves its skew window), so a signed request cannot be
replayed; a fresh nonce per request is all an agent needs to do.
"""

from __future__ import annotations

import hashlib
import secrets
import time

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from speedrun import signing

KEY_HEADER = "X-Speedrun-Key-Id"
TIME_HEADER = "X-Speedrun-Timestamp"
NONCE_HEADER = "X-Speedrun-Nonce"
SIG_HEADER = "X-Speedrun-Signature"


def signed_text(method: str, path: str, timestamp: str, nonce: str, body: bytes) -> bytes:
    digest = hashlib.sha256(body).hexdigest()
    return f"{method.upper()}\n{path}\n{timestamp}\n{nonce}\n{digest}".encode()


def sign_request(
    key: Ed25519PrivateKey, method: str, path: str, body: bytes, *, timestamp: int | None = None
) -> dict[str, str]:
    """The headers for one request; `path` includes the query string, if any."""
    stamp = str(int(time.time()) if timestamp is None else timestamp)
    nonce = secrets.token_hex(16)
    return {
        KEY_HEADER: signing.key_id(key.public_key()),
        TIME_HEADER: stamp,
        NONCE_HEADER: nonce,
        SIG_HEADER: signing.sign(key, signed_text(method, path, stamp, nonce, body)),
    }
