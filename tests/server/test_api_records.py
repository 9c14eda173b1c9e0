"""server.api.records: a record with its runs and statistics, an attempt, and the attempt's
source as stored (text/x-python); unknown ids are 404 problems, ids out of range 422."""

from __future__ import annotations

from srv_helpers import assert_problem
from support.bundles import claim_runs

SOURCE = "from speedrun import harness\nprint('record')\n"


def test_a_record_its_attempt_and_its_source(client, runner_key, token) -> None:
    claim = claim_runs(client, runner_key, token, SOURCE, [1000.0, 1002.0, 1001.0])
    [record_id] = claim.records
    record = client.get(f"/api/v1/records/{record_id}")
    assert record.status_code == 200
    body = record.json()
    assert body["record_id"] == record_id and body["attempt_id"] == claim.attempt_id
    assert body["status"] == "current" and len(body["runs"]) == 3
    attempt = client.get(f"/api/v1/attempts/{claim.attempt_id}").json()
    assert attempt["id"] == claim.attempt_id and attempt["stats"]["n_runs"] == 3
    source = client.get(f"/api/v1/attempts/{claim.attempt_id}/source")
    assert source.status_code == 200 and source.text == SOURCE
    assert source.headers["content-type"] == "text/x-python; charset=utf-8"


def test_unknown_and_invalid_ids(client) -> None:
    assert_problem(client.get("/api/v1/records/12345"), 404)
    assert_problem(client.get("/api/v1/attempts/12345"), 404)
    assert_problem(client.get("/api/v1/attempts/12345/source"), 404)
    assert_problem(client.get("/api/v1/attempts/99999999999"), 422)
