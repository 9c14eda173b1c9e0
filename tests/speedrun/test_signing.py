"""speedrun.signing: key pairs on disk, canonical JSON, and signatures that fail when any
byte, the key, or the encoding is wrong."""

from __future__ import annotations

import base64
import stat
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from speedrun import signing
from speedrun.errors import KeyFileError, UsageError


def test_a_key_pair_round_trips_through_its_files_and_is_never_overwritten(
    tmp_path: Path,
) -> None:
    private_path = tmp_path / "keys" / "runner.key"
    public_path = signing.init_keypair(private_path)
    assert public_path == tmp_path / "keys" / "runner.key.pub"
    assert stat.S_IMODE(private_path.stat().st_mode) == 0o600
    private = signing.load_private_key(private_path)
    public = signing.load_public_key(public_path)
    assert signing.raw_public_bytes(private.public_key()) == signing.raw_public_bytes(public)
    key_id = signing.key_id(public)
    assert len(key_id) == 16 and int(key_id, 16) >= 0
    assert sorted(p.name for p in private_path.parent.iterdir()) == ["runner.key", "runner.key.pub"]

    before = private_path.read_bytes()
    with pytest.raises(UsageError, match="refusing to overwrite"):
        signing.init_keypair(private_path)
    assert private_path.read_bytes() == before


def test_a_signature_verifies_only_the_signed_bytes_under_the_signing_key() -> None:
    key = Ed25519PrivateKey.generate()
    data = signing.canonical_json({"b": 1, "a": "é"})
    assert data == '{"a":"é","b":1}'.encode()
    sig = signing.sign(key, data)
    assert signing.verify(key.public_key(), data, sig)

    flipped = bytes([data[0] ^ 0x01]) + data[1:]
    assert not signing.verify(key.public_key(), flipped, sig)
    raw = bytearray(base64.b64decode(sig))
    raw[10] ^= 0x80
    assert not signing.verify(key.public_key(), data, base64.b64encode(bytes(raw)).decode())
    assert not signing.verify(Ed25519PrivateKey.generate().public_key(), data, sig)
    assert not signing.verify(key.public_key(), data, "not base64 !!")


def test_public_keys_travel_as_base64_and_garbage_is_refused() -> None:
    public = Ed25519PrivateKey.generate().public_key()
    back = signing.public_key_from_b64(signing.public_key_b64(public))
    assert signing.key_id(back) == signing.key_id(public)
    with pytest.raises(KeyFileError, match="not an Ed25519 public key"):
        signing.public_key_from_b64(base64.b64encode(b"short").decode())
    with pytest.raises(KeyFileError):
        signing.public_key_from_b64("%%%")


def test_canonical_json_refuses_nan() -> None:
    with pytest.raises(ValueError):
        signing.canonical_json({"loss": float("nan")})


def test_key_files_that_are_missing_or_not_keys_are_named_in_the_error(tmp_path: Path) -> None:
    with pytest.raises(KeyFileError, match="cannot read signing key"):
        signing.load_private_key(tmp_path / "absent.key")
    junk = tmp_path / "junk.pem"
    junk.write_text("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n")
    with pytest.raises(KeyFileError, match=r"junk\.pem: not a PEM private key"):
        signing.load_private_key(junk)
    with pytest.raises(KeyFileError, match=r"junk\.pem: not a PEM public key"):
        signing.load_public_key(junk)
