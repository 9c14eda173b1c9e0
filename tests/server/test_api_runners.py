"""server.api.runners: the registered runners, public keys only: name, key id, whether active,
when created and revoked; a revoked runner stays listed, inactive."""

from __future__ import annotations

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from server.services.runners import add_runner, revoke_runner
from speedrun import signing


def test_runners_are_listed_with_their_key_ids(client, db, runner_key) -> None:
    other = Ed25519PrivateKey.generate()
    with db.write() as session:
        add_runner(session, "laptop", other.public_key())
        revoke_runner(session, "laptop")
    answer = client.get("/api/v1/runners")
    assert answer.status_code == 200
    body = answer.json()
    by_name = {r["name"]: r for r in body["data"]}
    assert body["count"] == len(body["data"]) == 2
    assert by_name["ci-runner"]["key_id"] == signing.key_id(runner_key.public_key())
    assert by_name["ci-runner"]["active"] and by_name["ci-runner"]["revoked_at"] is None
    assert not by_name["laptop"]["active"] and by_name["laptop"]["revoked_at"] is not None
    assert all(
        set(r) == {"name", "key_id", "active", "created_at", "revoked_at"} for r in body["data"]
    )


def test_no_runners_is_an_empty_list(client) -> None:
    assert client.get("/api/v1/runners").json() == {"data": [], "count": 0}
