"""runner.client: how answers map to retry-or-not, with the network swapped for an httpx
transport (a real server is driven in tests/server and tests/e2e)."""

from __future__ import annotations

import httpx
import pytest

from runner.client import (
    ServerClient,
    ServerRefusedError,
    ServerUnavailableError,
    with_retries,
)


def scripted(*answers: httpx.Response) -> tuple[httpx.MockTransport, list[httpx.Request]]:
    seen: list[httpx.Request] = []
    queue = list(answers)

    def handle(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return queue.pop(0)

    return httpx.MockTransport(handle), seen


def problem(status: int, code: str, **headers: str) -> httpx.Response:
    body = {"type": "about:blank", "code": code, "detail": f"{code} happened", "status": status}
    return httpx.Response(status, json=body, headers=headers)


def test_a_rate_limited_upload_waits_as_told_then_succeeds() -> None:
    ok = httpx.Response(201, json={"run_id": "r1", "created": True})
    transport, seen = scripted(problem(429, "rate-limited", **{"Retry-After": "7"}), ok)
    client = ServerClient("http://server", transport=transport)
    waits: list[float] = []
    answer = with_retries(lambda: client.upload_bundle(b"\x1f\x8b"), sleep=waits.append)
    assert answer["run_id"] == "r1" and len(seen) == 2
    assert waits == [7.0]  # the server's Retry-After, not the first backoff step (0.5 s)


def test_5xx_and_broken_connections_are_retried_4xx_are_not() -> None:
    transport, _ = scripted(problem(503, "down"), problem(422, "schema"))
    client = ServerClient("http://server", transport=transport)
    waits: list[float] = []
    with pytest.raises(ServerRefusedError) as err:
        with_retries(lambda: client.upload_bundle(b"x"), sleep=waits.append)
    assert err.value.code == "schema" and waits == [0.5]


def test_a_retry_deadline_gives_up() -> None:
    transport, seen = scripted(*[problem(500, "boom") for _ in range(20)])
    client = ServerClient("http://server", transport=transport)
    with pytest.raises(ServerUnavailableError):
        with_retries(lambda: client.health(), deadline_s=2.0, sleep=lambda _s: None)
    assert 1 < len(seen) < 20
