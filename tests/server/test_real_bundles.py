"""Ingest of bundles made by the real runner: `speedrun keys init`, `speedrun keys held-out`
and `speedrun run tests/runner/variants/tiny_harness.py --track cpu-smoke --runs 2 --backend
local --held-out FILE`, once per session. Uploaded directly they are accepted, idempotent and
unsolicited (never a record); as the runs of a job (the job block signed in, as the agent's
runner writes it) their statistics equal the runner's summary and scipy's, the record
decision follows the rule, and the step curve comes from the real log, parsed at ingest."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient
from scipy import stats as sps
from sqlalchemy import delete
from srv_helpers import assert_problem, count_log_reads, row_counts
from support.claims import run_claim, submitter_token, with_job

from runner.keys import load_signing_key
from server.app import create_app
from server.config import load_settings
from server.models import RunLogSummary
from speedrun.cli import main as cli
from speedrun.logparse import parse_log
from speedrun.tracks import get_track

VARIANT = Path(__file__).parents[1] / "runner" / "variants" / "tiny_harness.py"
pytestmark = pytest.mark.skipif(
    importlib.util.find_spec("torch") is None or not VARIANT.exists(),
    reason="making real bundles needs torch and the runner's tiny variant",
)


@pytest.fixture(scope="session")
def real_run(tmp_path_factory: pytest.TempPathFactory) -> dict:
    root = tmp_path_factory.mktemp("real-bundles")
    env = {**os.environ, "SPEEDRUN_DATA_DIR": str(root / "data")}
    speedrun = [sys.executable, "-m", "speedrun.cli"]
    for keys in (["init", "--key", str(root / "key")], ["held-out", str(root / "held-out")]):
        subprocess.run([*speedrun, "keys", *keys], check=True, env=env, capture_output=True)
    env["SPEEDRUN_HELD_OUT"] = str(root / "held-out")
    out = root / "out"
    proc = subprocess.run(
        [
            *speedrun,
            "run",
            str(VARIANT),
            "--track",
            "cpu-smoke",
            "--runs",
            "2",
            "--backend",
            "local",
            "--out",
            str(out),
            "--key",
            str(root / "key"),
            "--quiet",
            "--seed",
            "1",
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert proc.returncode in (0, 1), proc.stdout + proc.stderr  # 1: verdict "no record"
    bundles = sorted(out.glob("*.bundle.tar.gz"))
    assert len(bundles) == 2, proc.stdout + proc.stderr
    [summary] = out.glob("summary-*.json")
    return {
        "key": root / "key",
        "pub": root / "key.pub",
        "bundles": [b.read_bytes() for b in bundles],
        "summary": json.loads(summary.read_text()),
    }


@pytest.fixture
def real_client(db_url, real_run):
    """Local-backend bundles count as official here (extra_record_backends) so the rule runs,
    and the hidden cpu-smoke takes submissions (submissions_to_hidden_tracks)."""
    assert cli(["admin", "runner-add", "laptop", str(real_run["pub"]), "--db", db_url]) == 0
    settings = load_settings(
        db=db_url, extra_record_backends=["local"], submissions_to_hidden_tracks=True
    )
    app = create_app(settings)
    with TestClient(app) as client:
        yield client
    app.state.speedrun.db.dispose()


def test_real_bundles_uploaded_directly_are_unsolicited(real_client, real_run):
    answers = [real_client.post("/api/v1/runs", content=b) for b in real_run["bundles"]]
    assert [a.status_code for a in answers] == [201, 201], answers[0].text
    run = answers[-1].json()["run"]
    assert run["runner"] == "laptop" and run["official"] is True
    assert run["status"] == "completed", real_client.get(run["url"]).json()["exit_reason"]
    assert run["purpose"] == "unsolicited"
    assert all(a.json()["records_established"] == [] for a in answers)
    stats = real_client.get(f"/api/v1/attempts/{run['attempt_id']}").json()["stats"]
    assert stats["n_unsolicited"] == 2 and stats["n_runs"] == 0 and not stats["qualifies"]


def test_real_bundles_of_a_job_count_with_the_runners_statistics(real_client, real_run):
    key, _ = load_signing_key(real_run["key"])
    db = real_client.app.state.speedrun.db
    source = VARIANT.read_text()
    bundles = real_run["bundles"]
    done = run_claim(
        real_client, key, submitter_token(db), source, "cpu-smoke",
        lambda job, i: with_job(bundles[i], key, job),
    )  # fmt: skip
    assert done.job["state"] == "FINISHED"
    run = real_client.get(done.answers[-1]["run"]["url"]).json()
    assert run["official"] is True and run["purpose"] == "claim" and run["counts"] is True
    assert run["curve"]["format"] == "harness" and run["curve"]["val"]
    stats = real_client.get(f"/api/v1/attempts/{done.attempt_id}").json()["stats"]
    summary = real_run["summary"]
    times = [a["time_ms"] for a in summary["attempts"]]
    losses = [a["val_loss"] for a in summary["attempts"]]
    assert stats["time_ms"]["mean"] == pytest.approx(summary["time_ms"]["mean"])
    assert stats["time_ms"]["std"] == pytest.approx(np.std(times, ddof=1))
    assert stats["val_loss"]["std"] == pytest.approx(np.std(losses, ddof=1))
    target = get_track("cpu-smoke").rules.target_val_loss
    expected_p = sps.ttest_1samp(losses, target, alternative="less").pvalue
    assert stats["p_value"] == pytest.approx(expected_p) and stats["p_value"] == pytest.approx(
        summary["p_value"]
    )
    assert (done.records != []) == (expected_p < 0.01)  # the rule decides, whichever way
    assert stats["qualifies"] == (expected_p < 0.01)


def test_real_bundle_reupload_is_idempotent_and_tampering_is_caught(real_client, real_run):
    import gzip

    first = real_client.post("/api/v1/runs", content=real_run["bundles"][0])
    assert first.status_code == 201
    db = real_client.app.state.speedrun.db
    before = row_counts(db)
    again = real_client.post("/api/v1/runs", content=real_run["bundles"][0])
    assert again.status_code == 200 and again.json()["run_id"] == first.json()["run_id"]
    raw = gzip.decompress(real_run["bundles"][1])
    needle = b"step:60/60 val_loss:"
    assert needle in raw
    forged = gzip.compress(raw.replace(needle, b"step:60/60 val_loss:1", 1), mtime=0)
    assert_problem(real_client.post("/api/v1/runs", content=forged), 422, "tampered")
    assert row_counts(db) == before


def test_real_run_pages_read_the_log_summary_stored_at_ingest(real_client, real_run, monkeypatch):
    """The curve is the real log's own parse, made at ingest: a page view parses nothing, and
    reads the same as a view that works the summary out from the log (how pages used to)."""
    run_ids = [
        real_client.post("/api/v1/runs", content=b).json()["run_id"] for b in real_run["bundles"]
    ]
    calls = count_log_reads(monkeypatch)
    paths = [p for r in run_ids for p in (f"/runs/{r}", f"/api/v1/runs/{r}")]
    stored = [real_client.get(p).text for p in paths]
    assert calls == []
    for run_id in run_ids:
        curve = real_client.get(f"/api/v1/runs/{run_id}").json()["curve"]
        [parsed] = parse_log(real_client.get(f"/runs/{run_id}/log.txt").text)
        assert curve["format"] == parsed.format == "harness"
        assert [(p["step"], p["val_loss"]) for p in curve["val"]] == [
            (p.step, p.val_loss) for p in parsed.val_points
        ]
    with real_client.app.state.speedrun.db.write() as session:
        session.execute(delete(RunLogSummary))
    assert [real_client.get(p).text for p in paths] == stored
    assert calls.count("parse_log") == len(run_ids)


def test_real_bundles_carry_compute_calibration_and_charted_telemetry(real_client, real_run):
    """The runner's own telemetry.jsonl is what the server charts (issue 17): every line a
    sample, none skipped, and the run page draws it."""
    for bundle in real_run["bundles"]:
        run_id = real_client.post("/api/v1/runs", content=bundle).json()["run_id"]
        public = real_client.get(f"/api/v1/runs/{run_id}").json()
        assert public["compute"]["forward_flops_per_token"] > 0
        assert public["calibration"]["matmul_flops_per_s"] > 0
        series = public["telemetry_series"]
        assert series["samples"] == public["telemetry"]["samples"] > 0 and series["skipped"] == 0
        assert all(p["load1"] is not None for p in series["points"])
        assert "Machine telemetry over the run" in real_client.get(f"/runs/{run_id}").text
