"""server.services.blobs: bytes stored once by their sha256 and read back whole; a second put
of the same bytes stores nothing new; an unknown digest reads as None."""

from __future__ import annotations

import hashlib

from sqlalchemy import func, select

from server.models import Blob
from server.services.blobs import get_blob, put_blob, sha256_hex


def test_bytes_are_stored_once_and_read_back(db) -> None:
    data = b"print('variant')\n"
    with db.write() as session:
        digest = put_blob(session, data, "text/x-python")
        assert put_blob(session, data, "text/plain") == digest  # already there: kept as was
    assert digest == sha256_hex(data) == hashlib.sha256(data).hexdigest()
    with db.reader() as session:
        blob = get_blob(session, digest)
        assert blob is not None and blob.data == data and blob.size_bytes == len(data)
        assert blob.media_type == "text/x-python"
        assert session.scalar(select(func.count()).select_from(Blob)) == 1


def test_an_unknown_digest_is_none(db) -> None:
    with db.reader() as session:
        assert get_blob(session, "00" * 32) is None


def test_a_given_digest_is_used_as_the_key(db) -> None:
    with db.write() as session:
        assert put_blob(session, b"", "application/octet-stream", sha256="ee" * 32) == "ee" * 32
    with db.reader() as session:
        empty = get_blob(session, "ee" * 32)
        assert empty is not None and empty.data == b"" and empty.size_bytes == 0
