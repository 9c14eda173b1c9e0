"""A run whose log summary is worked out on its first view (stored before summaries were, or
the row lost) gets its telemetry series from the same bundle read: the page reads the same
as one whose summary was stored at ingest (server.services.run_logs)."""

from __future__ import annotations

from sqlalchemy import delete
from support import machines
from support.bundles import make_bundle

from server.models import RunLogSummary


def test_the_telemetry_series_is_backfilled_with_the_log(client, runner_key, db) -> None:
    bundle = make_bundle(
        runner_key,
        telemetry=machines.telemetry(),
        extra_members=machines.telemetry_members(30),
    )
    answer = client.post("/api/v1/runs", content=bundle)
    assert answer.status_code == 201, answer.text
    path = f"/api/v1/runs/{answer.json()['run_id']}"
    stored = client.get(path).json()["telemetry_series"]
    assert stored["samples"] == 30
    with db.write() as session:
        session.execute(delete(RunLogSummary))
    assert client.get(path).json()["telemetry_series"] == stored
    assert client.get(path).json()["telemetry_series"] == stored  # and as stored again
