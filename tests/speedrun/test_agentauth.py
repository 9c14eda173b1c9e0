"""speedrun.agentauth: the headers an agent signs a job request with, and what they cover
(method, path with query, timestamp, nonce and body hash)."""

from __future__ import annotations

import base64
import hashlib

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from speedrun import agentauth, signing

KEY = Ed25519PrivateKey.generate()


def test_the_headers_carry_key_id_timestamp_a_fresh_nonce_and_a_valid_signature() -> None:
    body = b'{"track":"demo"}'
    first = agentauth.sign_request(KEY, "post", "/api/v1/jobs?x=1", body, timestamp=1700000000)
    second = agentauth.sign_request(KEY, "post", "/api/v1/jobs?x=1", body, timestamp=1700000000)
    assert first[agentauth.KEY_HEADER] == signing.key_id(KEY.public_key())
    assert first[agentauth.TIME_HEADER] == "1700000000"
    nonce = first[agentauth.NONCE_HEADER]
    assert 8 <= len(nonce) <= 64
    assert nonce != second[agentauth.NONCE_HEADER]
    text = agentauth.signed_text("POST", "/api/v1/jobs?x=1", "1700000000", nonce, body)
    assert signing.verify(KEY.public_key(), text, first[agentauth.SIG_HEADER])


def test_the_signed_text_is_the_documented_layout() -> None:
    text = agentauth.signed_text("get", "/a?b=c", "12", "n" * 8, b"")
    assert text == f"GET\n/a?b=c\n12\nnnnnnnnn\n{hashlib.sha256(b'').hexdigest()}".encode()


def test_a_changed_body_path_method_or_key_breaks_the_signature() -> None:
    headers = agentauth.sign_request(KEY, "POST", "/api/v1/jobs", b"{}", timestamp=5)
    nonce, sig = headers[agentauth.NONCE_HEADER], headers[agentauth.SIG_HEADER]
    public = KEY.public_key()
    assert signing.verify(
        public, agentauth.signed_text("POST", "/api/v1/jobs", "5", nonce, b"{}"), sig
    )
    for method, path, stamp, body in [
        ("POST", "/api/v1/jobs", "5", b"{ }"),
        ("POST", "/api/v1/jobs?all=1", "5", b"{}"),
        ("GET", "/api/v1/jobs", "5", b"{}"),
        ("POST", "/api/v1/jobs", "6", b"{}"),
    ]:
        assert not signing.verify(
            public, agentauth.signed_text(method, path, stamp, nonce, body), sig
        )
    other = Ed25519PrivateKey.generate().public_key()
    good = agentauth.signed_text("POST", "/api/v1/jobs", "5", nonce, b"{}")
    assert not signing.verify(other, good, sig)
    assert len(base64.b64decode(sig)) == 64
