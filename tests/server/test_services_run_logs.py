"""A run's log is parsed once, when the run is stored, and pages read what was stored: run
and record pages (HTML and JSON) neither parse a log nor read a bundle; the stored curve is
the log's own parse; a run stored before summaries existed gets its summary on its first
view, once, and its pages read the same either way; imported history runs get theirs from
the importer's parse. SQLite and PostgreSQL."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import delete, func, select
from srv_helpers import count_log_reads as spy
from support.bundles import LOSS, RUNS, claim_runs, manifest, step_log

from server.db import Database
from server.models import Run, RunLogSummary
from server.services import run_logs
from server.services.history.plan import plan_import
from server.services.history.write import write_plan
from speedrun import signing
from speedrun.bundle import build_bundle
from speedrun.logparse import parse_log

HISTORY = Path(__file__).resolve().parents[2] / ".." / "shared" / "fixtures" / "modded-nanogpt"
SOURCE = "from speedrun import harness\n\nprint('logs')\n"


def pages(client: Any, run_id: str, record_id: int) -> list[str]:
    paths = [f"/runs/{run_id}", f"/api/v1/runs/{run_id}", f"/records/{record_id}"]
    answers = [client.get(p) for p in [*paths, f"/api/v1/records/{record_id}"]]
    assert all(a.status_code == 200 for a in answers), [a.text[:200] for a in answers]
    return [a.text for a in answers]


@pytest.fixture
def record(client, runner_key, token) -> tuple[str, int]:
    made = claim_runs(client, runner_key, token, SOURCE, [1000.0 + i for i in range(RUNS)])
    [record_id] = made.records
    return made.answers[0]["run_id"], record_id


def test_run_and_record_pages_parse_no_log_and_read_no_bundle(client, record, monkeypatch):
    run_id, record_id = record
    calls = spy(monkeypatch)
    pages(client, run_id, record_id)
    assert calls == []


def test_the_stored_curve_is_the_logs_own_parse(client, db, record):
    run_id, _ = record
    [parsed] = parse_log(step_log(1000.0, round(LOSS, 4)), source="log.txt")
    curve = client.get(f"/api/v1/runs/{run_id}").json()["curve"]
    assert [(p["step"], p["val_loss"], p["train_time_ms"]) for p in curve["val"]] == [
        (p.step, p.val_loss, p.train_time_ms) for p in parsed.val_points
    ]
    assert len(curve["train"]) == len(parsed.train_points) > 0
    with db.reader() as session:
        runs = session.scalar(select(func.count()).select_from(Run))
        assert session.scalar(select(func.count()).select_from(RunLogSummary)) == runs


def test_a_run_stored_before_summaries_gets_its_own_on_first_view(client, db, record, monkeypatch):
    """As on a database migrated to 0007: no summaries. The first view works the summary
    out from the log (the way every view used to) and stores it; its pages read the same."""
    run_id, record_id = record
    stored = pages(client, run_id, record_id)
    with db.write() as session:
        session.execute(delete(RunLogSummary))
    calls = spy(monkeypatch)
    assert pages(client, run_id, record_id) == stored
    assert calls.count("parse_log") == RUNS  # each run's log, once (the record shows all)
    calls.clear()
    assert pages(client, run_id, record_id) == stored
    assert calls == []


def test_a_run_without_a_log_says_why_from_what_was_stored(client, runner_key, monkeypatch):
    m = manifest(source=SOURCE)
    m["runner"] = {**m["runner"], "key_id": signing.key_id(runner_key.public_key())}
    bundle = build_bundle(m, {"train_gpt.py": SOURCE.encode()}, runner_key)
    run_id = client.post("/api/v1/runs", content=bundle).json()["run_id"]
    calls = spy(monkeypatch)
    run = client.get(f"/api/v1/runs/{run_id}").json()
    assert run["curve"] is None and run["curve_error"] == "no log stored for this run"
    assert "no log stored for this run" in client.get(f"/runs/{run_id}").text
    assert calls == []


@pytest.mark.skipif(not HISTORY.is_dir(), reason="no modded-nanogpt fixture checkout")
def test_imported_runs_are_summarized_from_the_importers_parse(db_url, monkeypatch):
    db = Database(db_url)

    def read(runs: list[Run]) -> list[object]:
        with db.reader() as session:
            curves = run_logs.curves(session, runs)
            return [(curves[r.id], run_logs.excerpt(session, r)) for r in runs]

    try:
        write_plan(db, plan_import(HISTORY))
        calls = spy(monkeypatch)
        with db.reader() as session:
            runs = list(session.scalars(select(Run).order_by(Run.id)))
        stored = read(runs)
        assert runs and calls == []  # stored by the import: nothing worked out now
        with db.write() as writer:
            writer.execute(delete(RunLogSummary))
        assert read(runs) == stored  # each log parsed again, as pages did
        assert calls.count("parse_log") == len(runs)
    finally:
        db.dispose()
