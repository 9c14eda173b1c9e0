"""server.services.history.documents: the JSON an import stores beside imported rows. A
record's decision says it is imported and what its README row claims, with statistics over
its stored runs by purpose; a run's manifest says where its log came from and what the log
says; both are stable (sorted, no NaN) so a re-import changes nothing. Only imported records
answer an `imported` block."""

from __future__ import annotations

import json
from pathlib import Path

from support.bundles import step_log
from support.history_checkout import Row, write_checkout

from server.models import Record
from server.services.history.documents import (
    StoredRun,
    decision_json,
    imported_public,
    run_manifest,
)
from server.services.history.plan import plan_import


def plan(tmp_path: Path):
    rows = [
        Row(
            "3.000 minutes",
            "first [post](https://x.org)",
            "10/01/24",
            step_log(180_000.0, 3.27),
            "@a",
        )
    ]
    [track] = plan_import(write_checkout(tmp_path, main=rows)).tracks
    return track.records[0]


def test_a_records_decision_holds_the_readme_claim_and_run_statistics(tmp_path: Path) -> None:
    record = plan(tmp_path)
    runs = [
        StoredRun("claim", "8xH100", 180_000.0, 3.27, "ab" * 32),
        StoredRun("claim", "8xH100", 181_000.0, 3.26, "cd" * 32),
    ]
    text = decision_json(record, runs)
    assert text == decision_json(record, runs)  # stable
    doc = json.loads(text)
    assert doc["beat"]["method"] == "imported"
    claim = doc["imported"]
    assert (claim["number"], claim["claimed"], claim["claimed_time_ms"]) == (
        1,
        "3.000 minutes",
        180_000.0,
    )
    assert claim["contributors"] == ["@a"] and claim["links"][0]["url"] == "https://x.org"
    assert claim["logs"] == "logged" and claim["match"] == "file"
    [group] = claim["run_groups"]
    assert (group["purpose"], group["n_runs"], group["time_ms_mean"]) == ("claim", 2, 180_500.0)
    no_logs = json.loads(decision_json(record, []))["imported"]
    assert no_logs["logs"] == "no logs" and no_logs["run_groups"] == []


def test_a_runs_manifest_says_where_its_log_came_from(tmp_path: Path) -> None:
    [run] = plan(tmp_path).runs
    doc = json.loads(run_manifest(run))
    assert doc["imported_from"] == run.path == "records/track_1_short/1/run.txt"
    assert doc["log_sha256"] == run.log_sha256 and doc["purpose"] == "claim"
    assert doc["final_val_loss"] == 3.27 and doc["completed"] is True


def test_only_imported_records_answer_an_imported_block(tmp_path: Path) -> None:
    record = plan(tmp_path)
    imported = Record(origin="imported", decision_json=decision_json(record, []))
    public = imported_public(imported, logged_time_ms=181_000.0)
    assert public is not None and public.logged_time_ms == 181_000.0 and public.number == 1
    assert imported_public(Record(origin="verified", decision_json="{}"), None) is None
    assert imported_public(Record(origin="imported", decision_json="{}"), None) is None
