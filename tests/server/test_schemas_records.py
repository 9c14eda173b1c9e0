"""server.schemas.records: a record, an attempt and the leaderboard as the API answers them,
parsed back into their shapes; computed fields (the page twin, a verification's verdict)
are part of the JSON."""

from __future__ import annotations

from datetime import UTC, datetime

from support.bundles import TRACK, claim_runs

from server.schemas.records import (
    AttemptPublic,
    LeaderboardPublic,
    RecordPublic,
    VerificationPublic,
)

SOURCE = "from speedrun import harness\nprint('r')\n"


def test_record_attempt_and_board_answers_parse(client, runner_key, token) -> None:
    claim = claim_runs(client, runner_key, token, SOURCE, [1000.0, 1003.0, 1001.0])
    [record_id] = claim.records
    raw = client.get(f"/api/v1/records/{record_id}").json()
    record = RecordPublic.model_validate(raw)
    assert record.page_url == f"/records/{record_id}" == raw["page_url"]
    assert record.time_ms is not None and record.time_ms.n == 3
    assert record.imported is None and len(record.runs) == 3
    attempt = AttemptPublic.model_validate(
        client.get(f"/api/v1/attempts/{claim.attempt_id}").json()
    )
    assert attempt.id == claim.attempt_id
    board = LeaderboardPublic.model_validate(
        client.get(f"/api/v1/tracks/{TRACK}/leaderboard").json()
    )
    assert board.total == 1 and [e.record_id for e in board.entries] == [record_id]


def test_a_verification_says_its_verdict() -> None:
    fields = {
        "id": 1,
        "n_runs": 3,
        "time_ms_mean": 1300.0,
        "time_ms_std": 5.0,
        "val_loss_mean": 3.2,
        "p_value": 0.01,
        "image_digest": None,
        "runner": "ci",
        "job_id": 2,
        "detail": None,
        "created_at": datetime(2025, 1, 1, tzinfo=UTC),
    }
    assert VerificationPublic(status="drifted", **fields).verdict == "drifted"
    slow = VerificationPublic(status="drifted", cause="machine conditions", **fields)
    assert slow.verdict == "drifted: machine conditions"
    assert slow.model_dump()["verdict"] == "drifted: machine conditions"
