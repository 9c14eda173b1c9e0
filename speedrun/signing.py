"""Ed25519 runner keys: create, load, sign and verify (via the `cryptography` library).

A key pair is two files: the private key (PEM, PKCS#8, mode 0600) and `<file>.pub` (PEM,
SubjectPublicKeyInfo). A key's id is the first 16 hex digits of the sha256 of its raw public
bytes; manifests carry the id and the public key, and a verifier decides which ids it trusts.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import os
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from speedrun.errors import KeyFileError, UsageError

ALGORITHM = "ed25519"


def canonical_json(obj: Any) -> bytes:
    """The signed encoding: sorted keys, no whitespace, UTF-8, no NaN/Infinity."""
    return json.dumps(
        obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    ).encode("utf-8")


def raw_public_bytes(key: Ed25519PublicKey) -> bytes:
    return key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def key_id(key: Ed25519PublicKey) -> str:
    return hashlib.sha256(raw_public_bytes(key)).hexdigest()[:16]


def public_key_b64(key: Ed25519PublicKey) -> str:
    return base64.b64encode(raw_public_bytes(key)).decode("ascii")


def public_key_from_b64(text: str) -> Ed25519PublicKey:
    try:
        raw = base64.b64decode(text, validate=True)
        return Ed25519PublicKey.from_public_bytes(raw)
    except ValueError as exc:
        raise KeyFileError(f"not an Ed25519 public key: {exc}") from None


def public_pem(key: Ed25519PublicKey) -> bytes:
    return key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def init_keypair(path: str | os.PathLike[str], *, overwrite: bool = False) -> Path:
    """Create a key pair at `path` (private, 0600) and `path.pub`; return the public path.

    Both files are written to temporary names and renamed into place, the private one last
    and (unless `overwrite`) only if no key is there: a crash leaves no half-written key."""
    priv_path = Path(path)
    pub_path = priv_path.with_name(priv_path.name + ".pub")
    if priv_path.exists() and not overwrite:
        raise UsageError(f"{priv_path} exists; refusing to overwrite a signing key")
    priv_path.parent.mkdir(parents=True, exist_ok=True)
    key = Ed25519PrivateKey.generate()
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    tmp_priv = priv_path.with_name(f".{priv_path.name}.{os.getpid()}.partial")
    tmp_pub = pub_path.with_name(f".{pub_path.name}.{os.getpid()}.partial")
    try:
        fd = os.open(tmp_priv, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(pem)
            f.flush()
            os.fsync(f.fileno())
        tmp_pub.write_bytes(public_pem(key.public_key()))
        os.replace(tmp_pub, pub_path)
        if overwrite:
            os.replace(tmp_priv, priv_path)
        else:
            try:  # link fails if a key appeared meanwhile: never clobber one
                os.link(tmp_priv, priv_path)
            except FileExistsError:
                raise UsageError(
                    f"{priv_path} exists; refusing to overwrite a signing key"
                ) from None
    finally:
        for tmp in (tmp_priv, tmp_pub):
            with contextlib.suppress(FileNotFoundError):
                tmp.unlink()
    return pub_path


def load_private_key(path: str | os.PathLike[str]) -> Ed25519PrivateKey:
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise KeyFileError(f"{path}: cannot read signing key ({exc.strerror})") from None
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except (ValueError, TypeError) as exc:
        raise KeyFileError(f"{path}: not a PEM private key ({exc})") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise KeyFileError(f"{path}: not an Ed25519 key")
    return key


def load_public_key(path: str | os.PathLike[str]) -> Ed25519PublicKey:
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise KeyFileError(f"{path}: cannot read public key ({exc.strerror})") from None
    try:
        key = serialization.load_pem_public_key(data)
    except ValueError as exc:
        raise KeyFileError(f"{path}: not a PEM public key ({exc})") from None
    if not isinstance(key, Ed25519PublicKey):
        raise KeyFileError(f"{path}: not an Ed25519 public key")
    return key


def sign(key: Ed25519PrivateKey, data: bytes) -> str:
    return base64.b64encode(key.sign(data)).decode("ascii")


def verify(key: Ed25519PublicKey, data: bytes, signature_b64: str) -> bool:
    try:
        key.verify(base64.b64decode(signature_b64, validate=True), data)
    except (InvalidSignature, ValueError):
        return False
    return True
