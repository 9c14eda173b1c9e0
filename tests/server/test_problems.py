"""server.problems: every error the app raises answers RFC 9457 problem JSON with a stable
code: the server's own errors, bundle and track errors, validation, routing, and an
unexpected exception (logged, its message never shown)."""

from __future__ import annotations

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from server.problems import (
    PROBLEM_MEDIA_TYPE,
    TYPE_BASE,
    Conflict,
    JobMismatch,
    RateLimited,
    install_handlers,
)
from speedrun.errors import BundleError, BundleInvalid, TrackError


def make_client() -> TestClient:
    app = FastAPI()
    install_handlers(app)

    @app.get("/conflict")
    def conflict() -> None:
        raise Conflict("run-id-taken", "run r1 exists")

    @app.get("/mismatch")
    def mismatch() -> None:
        raise JobMismatch("job-mismatch", "run r2 is not in job 7")

    @app.get("/limited")
    def limited() -> None:
        raise RateLimited("rate-limited", "slow down", headers={"Retry-After": "3"})

    @app.get("/invalid")
    def invalid() -> None:
        raise BundleInvalid("signature does not verify", code="bad-signature")

    @app.get("/truncated")
    def truncated() -> None:
        raise BundleError("truncated gzip stream")

    @app.get("/track")
    def track() -> None:
        raise TrackError("no track 'gpt-9'")

    @app.get("/items/{n}")
    def item(n: int) -> int:
        return n

    @app.get("/boom")
    def boom() -> None:
        raise RuntimeError("secret database password in this message")

    return TestClient(app, raise_server_exceptions=False)


@pytest.mark.parametrize(
    ("path", "status", "code", "detail"),
    [
        ("/conflict", 409, "run-id-taken", "run r1 exists"),
        ("/mismatch", 400, "job-mismatch", "run r2 is not in job 7"),
        ("/invalid", 422, "bad-signature", "signature does not verify"),
        ("/truncated", 400, "truncated-bundle", "truncated gzip stream"),
        ("/track", 404, "unknown-track", "no track 'gpt-9'"),
    ],
)
def test_errors_become_problem_json_with_their_status_and_code(
    path: str, status: int, code: str, detail: str
) -> None:
    response = make_client().get(path)
    assert response.status_code == status
    assert response.headers["content-type"] == PROBLEM_MEDIA_TYPE
    body = response.json()
    assert body["code"] == code and body["detail"] == detail and body["status"] == status
    assert body["type"] == TYPE_BASE + code and body["title"]


def test_headers_of_an_error_travel_with_it() -> None:
    response = make_client().get("/limited")
    assert response.status_code == 429 and response.headers["retry-after"] == "3"


def test_bad_parameters_and_unknown_routes_are_problems_too() -> None:
    client = make_client()
    bad = client.get("/items/not-a-number")
    assert bad.status_code == 422 and bad.json()["code"] == "validation"
    assert bad.json()["detail"].startswith("path.n: ")
    assert client.get("/nowhere").json()["code"] == "not-found"
    assert client.post("/conflict").json()["code"] == "method-not-allowed"


def test_an_unexpected_exception_is_logged_and_its_message_withheld(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level("ERROR", logger="server"):
        response = make_client().get("/boom")
    assert response.status_code == 500
    assert response.json()["code"] == "internal"
    assert "password" not in response.text
    assert "unhandled error on GET /boom" in caplog.text
