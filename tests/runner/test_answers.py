"""runner.answers: the server's answers read into typed values in one place. A field missing
or of the wrong type is a MalformedAnswerError naming the route and the dotted field (a
refusal, never a KeyError later); JSON's one kind of number reads as a float, but never a
boolean as a number; naive times are UTC; fields the runner does not read are ignored."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from support.server_answers import INGESTED, JOB, LEASE, with_field

from runner.answers import (
    MalformedAnswerError,
    ServerRefusedError,
    parse_attempt,
    parse_health,
    parse_ingested,
    parse_job,
    parse_lease,
    parse_submission,
)
from speedrun.errors import SpeedrunError


def test_a_lease_reads_into_types_and_gives_the_manifests_job_block() -> None:
    lease = parse_lease(LEASE | {"something_new": [1, 2]})  # unknown fields are ignored
    assert lease.job_id == 7 and lease.job_ref == {"id": 7, "nonce": "N1"}
    assert lease.job.track.id == "cpu-tiny" and lease.job.runs_done == ("r0",)
    assert lease.baseline_source is None and lease.upload_url.endswith("lease=L1")
    assert lease.job.lease_expires_at == datetime(2025, 1, 1, 0, 5, tzinfo=UTC)  # naive = UTC


def test_a_job_round_trips_through_its_json() -> None:
    job = parse_job(JOB, "heartbeat")
    assert parse_job(job.to_json(), "heartbeat") == job
    aware = with_field(JOB, "lease_expires_at", "2025-01-01T02:05:00+02:00")
    assert parse_job(aware, "claim").lease_expires_at == datetime(
        2025, 1, 1, 2, 5, tzinfo=timezone(timedelta(hours=2))
    )


def test_numbers_integers_and_flags() -> None:
    ingested = parse_ingested(with_field(INGESTED, "run.time_ms", 1234))
    assert ingested.run.time_ms == 1234.0 and isinstance(ingested.run.time_ms, float)
    with pytest.raises(MalformedAnswerError) as bool_as_int:
        parse_job(with_field(JOB, "attempt_id", True), "claim")
    assert bool_as_int.value.field == "attempt_id"
    with pytest.raises(MalformedAnswerError) as int_as_flag:
        parse_ingested(with_field(INGESTED, "created", 1))
    assert "expected true or false, got int 1" in str(int_as_flag.value)


@pytest.mark.parametrize(
    ("path", "value", "field", "problem"),
    [
        ("job.track.version", "2", "job.track.version", "expected an integer, got str '2'"),
        ("job.track", ..., "job.track", "missing"),
        ("job.runs_done", ["r0", 5], "job.runs_done[1]", "expected text, got int 5"),
        ("job.lease_expires_at", "soon", "job.lease_expires_at", "expected an ISO 8601 time"),
        ("job", "x" * 100, "job", "expected an object, got str 'xxxx"),
        ("nonce", None, "nonce", "expected text, got null"),
    ],
)
def test_a_malformed_lease_names_the_field(
    path: str, value: object, field: str, problem: str
) -> None:
    with pytest.raises(MalformedAnswerError) as exc:
        parse_lease(with_field(LEASE, path, value))
    err = exc.value
    assert (err.route, err.field) == ("claim", field)
    assert problem in str(err) and len(str(err)) < 200  # what was there, briefly
    assert isinstance(err, ServerRefusedError) and isinstance(err, SpeedrunError)
    assert (err.status, err.code) == (200, "malformed-answer")


def test_an_answer_that_is_not_an_object() -> None:
    with pytest.raises(
        MalformedAnswerError, match="the health answer's body: expected an object, got list"
    ):
        parse_health([])
    assert parse_health({"status": "ok", "version": "0.1"}).version == "0.1"


def test_a_submission_and_an_attempt() -> None:
    sub = parse_submission(
        {
            "id": 3,
            "track": JOB["track"],
            "attempt_id": 3,
            "variant_sha256": "ab" * 32,
            "job": JOB,
            "attempt_url": "/a/3",
        }
    )
    assert sub.job.id == 7 and sub.track.version == 2
    stats = {
        "n_runs": 3,
        "n_counted": 2,
        "time_ms": {"n": 2, "mean": 1000, "std": 5.5},
        "val_loss": None,
        "p_value": None,
        "qualifies": False,
        "reason": "too few runs",
    }
    attempt = parse_attempt({"id": 3, "track": JOB["track"], "record_id": None, "stats": stats})
    assert attempt.stats.time_ms is not None and attempt.stats.time_ms.mean == 1000.0
    assert attempt.stats.val_loss is None and not attempt.stats.qualifies
    with pytest.raises(MalformedAnswerError) as exc:
        parse_attempt(
            {
                "id": 3,
                "track": JOB["track"],
                "record_id": None,
                "stats": stats | {"time_ms": {"n": 2}},
            }
        )
    assert exc.value.field == "stats.time_ms.mean"


def test_a_refusal_reads_as_one_line() -> None:
    err = ServerRefusedError(409, "run-id-taken", "run r1 exists")
    assert str(err) == "server refused (409 run-id-taken): run r1 exists"
    assert (err.status, err.code, err.detail) == (409, "run-id-taken", "run r1 exists")
