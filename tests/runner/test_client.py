"""runner.client: how answers map to retry-or-not, with the network swapped for an httpx
transport (a real server is driven in tests/server and tests/e2e), and how each answer is
read into its typed form, a malformed one refused with the field it got wrong."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from support.server_answers import INGESTED, JOB, LEASE, problem, scripted, with_field

from runner.client import (
    Job,
    MalformedAnswerError,
    ServerClient,
    ServerRefusedError,
    ServerUnavailableError,
    TrackRef,
    parse_attempt,
    parse_lease,
    with_retries,
)


def agent_client(*answers: httpx.Response) -> tuple[ServerClient, list[httpx.Request]]:
    transport, seen = scripted(*answers)
    return ServerClient(
        "http://server", key=Ed25519PrivateKey.generate(), transport=transport
    ), seen


def test_a_rate_limited_upload_waits_as_told_then_succeeds() -> None:
    ok = httpx.Response(201, json=INGESTED)
    transport, seen = scripted(problem(429, "rate-limited", **{"Retry-After": "7"}), ok)
    client = ServerClient("http://server", transport=transport)
    waits: list[float] = []
    answer = with_retries(lambda: client.upload_bundle(b"\x1f\x8b"), sleep=waits.append)
    assert answer.run_id == "r1" and answer.created and len(seen) == 2
    assert answer.run.purpose == "claim" and answer.run.time_ms == 1234.0
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


def test_a_claim_answer_is_read_into_a_typed_lease() -> None:
    client, seen = agent_client(httpx.Response(200, json=LEASE), httpx.Response(204))
    lease = client.claim({"accelerator": "cpu"})
    assert lease is not None and lease.job_id == 7 and lease.nonce == "N1"
    assert lease.job.track == TrackRef("cpu-tiny", 2) and lease.job.runs_done == ("r0",)
    assert lease.job.lease_expires_at == datetime(2025, 1, 1, 0, 5, tzinfo=UTC)  # naive: UTC
    assert lease.job_ref == {"id": 7, "nonce": "N1"} and lease.baseline_source is None
    assert client.claim() is None  # 204: the queue is empty
    assert [r.url.path for r in seen] == ["/api/v1/jobs/claim"] * 2
    assert "X-Speedrun-Signature" in seen[0].headers


@pytest.mark.parametrize(
    ("path", "value", "field", "problem"),
    [
        ("nonce", ..., "nonce", "missing"),
        ("nonce", 5, "nonce", "expected text, got int 5"),
        ("job.id", "7", "job.id", "expected an integer, got str '7'"),
        ("job.id", True, "job.id", "expected an integer, got bool True"),
        ("job.track.version", None, "job.track.version", "expected an integer, got null"),
        ("job.track", "cpu-tiny", "job.track", "expected an object"),
        ("job.runs_done", ["r0", 1], "job.runs_done[1]", "expected text, got int 1"),
        ("job.lease_expires_at", "soon", "job.lease_expires_at", "an ISO 8601 time"),
        ("baseline_source", [], "baseline_source", "expected text or null, got list []"),
        ("job", None, "job", "got null"),
    ],
)
def test_a_malformed_claim_answer_names_its_field(
    path: str, value: Any, field: str, problem: str
) -> None:
    client, seen = agent_client(httpx.Response(200, json=with_field(LEASE, path, value)))
    waits: list[float] = []
    with pytest.raises(MalformedAnswerError) as err:
        with_retries(lambda: client.claim(), sleep=waits.append)
    assert err.value.route == "claim" and err.value.field == field
    assert problem in str(err.value) and f"the claim answer's {field}" in str(err.value)
    assert isinstance(err.value, ServerRefusedError) and err.value.code == "malformed-answer"
    assert waits == [] and len(seen) == 1  # a refusal: not asked again


def test_an_answer_that_is_not_an_object_or_not_json_is_malformed() -> None:
    with pytest.raises(MalformedAnswerError, match="body: expected an object, got list"):
        parse_lease([LEASE])
    client, _ = agent_client(httpx.Response(201, content=b"<html>oops</html>"))
    with pytest.raises(MalformedAnswerError, match="job upload answer's body: not JSON"):
        client.upload_job_run(7, "L1", b"\x1f\x8b")


def test_upload_heartbeat_and_complete_answers_are_typed() -> None:
    later = with_field(JOB, "lease_expires_at", "2025-01-01T00:10:00+00:00")
    done = with_field(JOB, "state", "FINISHED")
    client, seen = agent_client(
        httpx.Response(200, json=with_field(INGESTED, "created", False)),
        httpx.Response(200, json=later),
        httpx.Response(200, json=done),
        httpx.Response(201, json=with_field(INGESTED, "run.counts", "yes")),
    )
    assert client.upload_job_run(7, "L1", b"\x1f\x8b").created is False
    beat = client.heartbeat(7, "L1")
    assert isinstance(beat, Job) and beat.lease_expires_at == datetime(
        2025, 1, 1, 0, 10, tzinfo=UTC
    )
    assert client.complete(7, "L1", failed=False, reason=None).state == "FINISHED"
    with pytest.raises(MalformedAnswerError) as err:
        client.upload_job_run(7, "L1", b"\x1f\x8b")
    assert err.value.field == "run.counts" and "expected true or false" in err.value.detail
    assert [r.url.path for r in seen] == [
        "/api/v1/jobs/7/runs",
        "/api/v1/jobs/7/heartbeat",
        "/api/v1/jobs/7/complete",
        "/api/v1/jobs/7/runs",
    ]


def test_an_attempt_answer_and_its_summaries() -> None:
    stats = {
        "n_runs": 4,
        "n_counted": 3,
        "n_unsolicited": 0,
        "official": True,
        "self_reported": False,
        "time_ms": {"n": 3, "mean": 100, "std": 2.5},
        "val_loss": None,
        "p_value": 0.01,
        "qualifies": True,
        "reason": "",
    }
    doc = {"id": 3, "track": {"id": "cpu-tiny", "version": 2}, "record_id": 9, "stats": stats}
    attempt = parse_attempt(doc)
    assert attempt.record_id == 9 and attempt.stats.val_loss is None
    assert attempt.stats.time_ms is not None and attempt.stats.time_ms.mean == 100.0
    with pytest.raises(MalformedAnswerError, match=r"stats\.time_ms\.std: missing"):
        parse_attempt(with_field(doc, "stats.time_ms.std", ...))
