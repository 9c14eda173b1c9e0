"""Content-addressed bytes in the `blobs` table: written once, read by sha256."""

from __future__ import annotations

import hashlib

from sqlalchemy import select
from sqlalchemy.orm import Session, undefer

from server.models import Blob


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def put_blob(session: Session, data: bytes, media_type: str, sha256: str | None = None) -> str:
    """Store `data` unless a blob with its digest exists; return the digest."""
    digest = sha256 or sha256_hex(data)
    exists = session.scalar(select(Blob.sha256).where(Blob.sha256 == digest))
    if exists is None:
        session.add(Blob(sha256=digest, size_bytes=len(data), media_type=media_type, data=data))
        session.flush()
    return digest


def get_blob(session: Session, sha256: str) -> Blob | None:
    return session.scalar(select(Blob).where(Blob.sha256 == sha256).options(undefer(Blob.data)))
