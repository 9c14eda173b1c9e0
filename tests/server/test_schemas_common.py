"""server.schemas.common: the shapes several answers share. Every error answer of the API is
exactly a `ProblemPublic` (RFC 9457 fields plus a machine-readable code); the health answer
and summaries (n, mean, sample std) are typed and refuse what is not."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from server.schemas.common import HealthPublic, ProblemPublic, SummaryPublic, TrackRef


def test_every_error_answer_is_a_problem(client) -> None:
    for answer in (
        client.get("/api/v1/records/4242"),
        client.get("/api/v1/records/x"),
        client.post("/api/v1/submissions", json={}),
        client.get("/api/v1/tracks/cpu-huge/leaderboard"),
    ):
        problem = ProblemPublic.model_validate(answer.json())
        assert problem.status == answer.status_code >= 400
        assert set(answer.json()) == set(ProblemPublic.model_fields)
        assert problem.code and problem.detail


def test_health_and_summaries_are_typed(client) -> None:
    assert HealthPublic.model_validate(client.get("/api/v1/health").json()).status == "ok"
    assert SummaryPublic(n=3, mean=1000, std=2).mean == 1000.0
    assert TrackRef(id="cpu-tiny", version=2).model_dump() == {"id": "cpu-tiny", "version": 2}
    with pytest.raises(ValidationError):
        SummaryPublic(n="three", mean=1.0, std=0.0)
    with pytest.raises(ValidationError):
        ProblemPublic(type="about:blank", title="x", status=400, detail="y")  # no code
