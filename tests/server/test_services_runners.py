"""server.services.runners: the registry of runner keys. A name and a key are registered once
(a second is a 409 naming which), a revoked runner stays listed but is no longer active nor
trusted, and an unknown name is a 404."""

from __future__ import annotations

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from server.problems import Conflict, NotFound
from server.services.runners import (
    active_runner,
    add_runner,
    list_runners,
    revoke_runner,
    runner_names,
    trusted_keys,
)
from speedrun import signing


def test_registered_runners_are_trusted_until_revoked(db) -> None:
    a, b = Ed25519PrivateKey.generate(), Ed25519PrivateKey.generate()
    with db.write() as session:
        ra = add_runner(session, "a", a.public_key())
        add_runner(session, "b", b.public_key())
    a_id, b_id = signing.key_id(a.public_key()), signing.key_id(b.public_key())
    with db.reader() as session:
        keys = trusted_keys(session)
        assert set(keys) == {a_id, b_id}
        assert signing.raw_public_bytes(keys[a_id]) == signing.raw_public_bytes(a.public_key())
        assert active_runner(session, a_id) is not None
        assert runner_names(session) == {ra.id: "a", ra.id + 1: "b"}
    with db.write() as session:
        revoked = revoke_runner(session, "a")
        assert not revoked.active and revoked.revoked_at is not None
    with db.reader() as session:
        assert active_runner(session, a_id) is None and set(trusted_keys(session)) == {b_id}
        assert [r.name for r in list_runners(session)] == ["a", "b"]


def test_names_and_keys_are_registered_once(db) -> None:
    key = Ed25519PrivateKey.generate()
    with db.write() as session:
        add_runner(session, "a", key.public_key())
    with pytest.raises(Conflict, match="a runner named 'a'"), db.write() as session:
        add_runner(session, "a", Ed25519PrivateKey.generate().public_key())
    with pytest.raises(Conflict, match="is already registered"), db.write() as session:
        add_runner(session, "other", key.public_key())


def test_revoking_an_unknown_runner_is_not_found(db) -> None:
    with pytest.raises(NotFound, match="no runner named 'ghost'"), db.write() as session:
        revoke_runner(session, "ghost")
