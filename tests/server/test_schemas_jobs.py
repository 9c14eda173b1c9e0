"""server.schemas.jobs: what clients may send (a submission, an agent's claim, a lease, a
completion), bounded and typed so a hostile body is refused by validation, and what the
API answers about jobs, submissions and runners."""

from __future__ import annotations

import pytest
from pydantic import ValidationError
from support.bundles import TRACK

from server.schemas.jobs import (
    ClaimIn,
    CompleteIn,
    RunnersPublic,
    SubmissionCreate,
    SubmissionPublic,
)


def test_a_submission_body_is_bounded() -> None:
    body = SubmissionCreate(track=TRACK, source="print(1)\n")
    assert body.version is None and body.description == ""
    for bad in (
        {"track": "t" * 81, "source": "x"},
        {"track": TRACK, "source": "x", "version": 0},
        {"track": TRACK, "source": "x", "description": "d" * 10_001},
        {"track": TRACK},
    ):
        with pytest.raises(ValidationError):
            SubmissionCreate.model_validate(bad)


def test_claims_and_completions_take_only_known_values() -> None:
    assert ClaimIn().accelerator is None
    assert ClaimIn(accelerator="cuda", accelerator_count=8, gpu_model="H100").accelerator_count == 8
    for bad in ({"accelerator": "tpu"}, {"accelerator_count": -1}, {"accelerator_count": 5000}):
        with pytest.raises(ValidationError):
            ClaimIn.model_validate(bad)
    assert CompleteIn(lease_id="L1", outcome="failed", reason="GPU fell off").outcome == "failed"
    with pytest.raises(ValidationError):
        CompleteIn(lease_id="L1", outcome="abandoned")
    with pytest.raises(ValidationError):
        CompleteIn(lease_id="L" * 65, outcome="finished")


def test_the_apis_answers_parse_into_their_shapes(client, token, runner_key) -> None:
    answer = client.post(
        "/api/v1/submissions",
        json={"track": TRACK, "source": "print(2)\n"},
        headers={"Authorization": f"Bearer {token}"},
    )
    sub = SubmissionPublic.model_validate(answer.json())
    assert sub.user == "alice" and sub.job.state == "PENDING" and sub.track.id == TRACK
    assert "nonce" not in answer.json()["job"]  # the job's nonce is the leasing agent's alone
    runners = RunnersPublic.model_validate(client.get("/api/v1/runners").json())
    assert runners.count == 1 and runners.data[0].name == "ci-runner"
