"""server.deps: what routes inject, through the real app. A body is refused with 413 as soon
as it passes its bound (declared or streamed); JSON bodies are validated naming the field; a
submitter's token and a runner's signature are checked, each refusal a 401 naming why, and
an unknown runner refused before its body is read."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from fastapi.testclient import TestClient
from pydantic import BaseModel
from srv_helpers import assert_problem
from support.bundles import TRACK

from server.app import create_app
from server.config import load_settings
from server.deps import parse_json
from server.problems import BadRequest
from server.services.agent_auth import sign_request
from server.services.tokens import create_token
from speedrun.agentauth import KEY_HEADER
from speedrun.signing import key_id


class Body(BaseModel):
    track: str
    runs: int


def test_json_bodies_are_validated_naming_the_field() -> None:
    assert parse_json(b'{"track": "t", "runs": 3}', Body) == Body(track="t", runs=3)
    with pytest.raises(BadRequest, match="runs: Input should be a valid integer"):
        parse_json(b'{"track": "t", "runs": "many"}', Body)
    with pytest.raises(BadRequest, match=r"^body: |Invalid JSON"):
        parse_json(b"{not json", Body)


@pytest.fixture
def small(db_url: str) -> Iterator[TestClient]:
    app = create_app(load_settings(db=db_url, max_json_bytes=200, extra_record_backends=[]))
    with TestClient(app) as client:
        yield client


def test_bodies_past_their_bound_are_413(small: TestClient) -> None:
    db = small.app.state.speedrun.db  # type: ignore[attr-defined]
    with db.write() as session:
        token = create_token(session, "alice")[1]
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    declared = small.post("/api/v1/submissions", content=b"x" * 201, headers=headers)
    assert_problem(declared, 413, "too-large")

    def chunks() -> Iterator[bytes]:  # no Content-Length: counted as it streams in
        for _ in range(10):
            yield b"y" * 50

    streamed = small.post("/api/v1/submissions", content=chunks(), headers=headers)
    assert_problem(streamed, 413, "too-large")
    fits = small.post(
        "/api/v1/submissions", json={"track": TRACK, "source": "print(1)\n"}, headers=headers
    )
    assert fits.status_code == 201


def test_tokens_are_checked(client, token) -> None:
    body = {"track": TRACK, "source": "print(1)\n"}
    assert_problem(client.post("/api/v1/submissions", json=body), 401, "missing-token")
    bad = {"Authorization": "Bearer nope"}
    assert_problem(client.post("/api/v1/submissions", json=body, headers=bad), 401, "bad-token")
    good = {"Authorization": f"Bearer {token}"}
    assert client.post("/api/v1/submissions", json=body, headers=good).status_code == 201


def test_agent_signatures_are_checked(client, runner_key) -> None:
    path = "/api/v1/jobs/claim"
    assert_problem(client.post(path), 401, "missing-signature")
    stranger = Ed25519PrivateKey.generate()
    unknown = client.post(path, headers=sign_request(stranger, "POST", path, b""))
    assert_problem(unknown, 401, "unknown-runner")
    forged = {
        **sign_request(stranger, "POST", path, b""),
        KEY_HEADER: key_id(runner_key.public_key()),
    }
    assert_problem(client.post(path, headers=forged), 401)
    signed = client.post(path, headers=sign_request(runner_key, "POST", path, b""))
    assert signed.status_code == 204  # a known runner, no job pending
