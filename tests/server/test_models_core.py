"""server.models.core: blobs are stored once by sha256 (their bytes loaded only when asked
for), runner names and key ids are unique, a user's tokens need the user, and a nonce is
accepted once per runner key: the second insert fails on the database itself."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import inspect, select
from sqlalchemy.exc import IntegrityError

from server.models import AgentNonce, ApiToken, Blob, Runner, User, utcnow


def add(db, *rows) -> None:
    with db.write() as session:
        session.add_all(rows)


def test_blobs_are_keyed_by_sha256_and_load_their_bytes_lazily(db) -> None:
    add(db, Blob(sha256="ab" * 32, size_bytes=3, media_type="text/plain", data=b"abc"))
    with db.reader() as session:
        blob = session.scalar(select(Blob))
        assert "data" in inspect(blob).unloaded  # deferred: listing blobs reads no bytes
        assert blob.data == b"abc" and blob.size_bytes == 3
    with pytest.raises(IntegrityError):
        add(db, Blob(sha256="ab" * 32, size_bytes=1, media_type="x", data=b"x"))


@pytest.mark.parametrize(
    "second",
    [
        Runner(name="ci", key_id="k2", public_key="p2"),  # same name
        Runner(name="other", key_id="k1", public_key="p2"),  # same key id
    ],
)
def test_runner_names_and_key_ids_are_unique(db, second: Runner) -> None:
    add(db, Runner(name="ci", key_id="k1", public_key="p1"))
    with pytest.raises(IntegrityError):
        add(db, second)


def test_a_runner_starts_active(db) -> None:
    add(db, Runner(name="ci", key_id="k1", public_key="p1"))
    with db.reader() as session:
        runner = session.scalar(select(Runner))
    assert runner.active and runner.revoked_at is None


def test_tokens_belong_to_users_and_are_unique(db) -> None:
    user = User(name="alice")
    add(db, user)
    add(db, ApiToken(user_id=user.id, token_sha256="cd" * 32))
    with pytest.raises(IntegrityError):
        add(db, ApiToken(user_id=user.id, token_sha256="cd" * 32))
    with pytest.raises(IntegrityError):
        add(db, ApiToken(user_id=user.id + 100, token_sha256="ef" * 32))


def test_a_nonce_is_accepted_once_per_key(db) -> None:
    later = utcnow() + timedelta(minutes=5)
    add(db, AgentNonce(key_id="k1", nonce="n1", expires_at=later))
    add(db, AgentNonce(key_id="k2", nonce="n1", expires_at=later))  # another runner's
    with pytest.raises(IntegrityError):
        add(db, AgentNonce(key_id="k1", nonce="n1", expires_at=later))
