"""server.schemas.runs: a run as the API answers it (its figures, whether it counts, its
curve) and the ingest answer, parsed back into their shapes; an unsolicited upload says so,
and every run links its page."""

from __future__ import annotations

from support.bundles import make_bundle

from server.schemas.runs import IngestPublic, RunPublic


def test_an_unsolicited_upload_and_its_run_parse(client, runner_key) -> None:
    bundle = make_bundle(runner_key, time_ms=1234.0)
    answer = client.post("/api/v1/runs", content=bundle)
    assert answer.status_code == 201, answer.text
    ingest = IngestPublic.model_validate(answer.json())
    assert ingest.created and ingest.run.unsolicited and not ingest.run.counts
    assert ingest.run.page_url == f"/runs/{ingest.run_id}"
    run = RunPublic.model_validate(client.get(f"/api/v1/runs/{ingest.run_id}").json())
    assert run.run_id == ingest.run_id and run.time_ms == 1234.0
    assert run.purpose == "unsolicited" and run.origin == "verified"
    again = IngestPublic.model_validate(client.post("/api/v1/runs", content=bundle).json())
    assert not again.created and again.run_id == ingest.run_id  # the same bundle: known
