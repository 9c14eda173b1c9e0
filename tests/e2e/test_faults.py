"""Fault tests of the loop, with real processes on SQLite and on PostgreSQL (cpu-smoke, local
backend, so each attempt takes seconds):

* kill -9 an agent mid-job: its lease expires, another agent runs the job, and exactly one
  completed result counts (the job's runs are its runs_total, none twice);
* kill -9 the server while agents upload: they retry until acknowledged, every acknowledged
  bundle is stored exactly once, and the database passes its integrity check.
"""

from __future__ import annotations

import signal
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from support.loop import (
    acked_bundles,
    job_of,
    kill_group,
    kill_matching,
    pending_bundles,
    register_agent_key,
    start_agent,
    start_server,
    submit,
    wait_until,
)

from server.config import normalize_db_url

pytestmark = [pytest.mark.slow]
REPO = Path(__file__).resolve().parents[2]
VARIANT = REPO / "records" / "seed-recipe" / "train_gpt.py"
LOCAL = ("--backend", "local")


def _token(server) -> str:
    return server.admin("token-create", "alice").strip().splitlines()[-1]


def _db_rows(db: str, sql: str) -> list[tuple[object, ...]]:
    engine = create_engine(normalize_db_url(db))
    with engine.connect() as conn:
        rows = [tuple(r) for r in conn.execute(text(sql))]
    engine.dispose()
    return rows


def _check_integrity(db: str) -> None:
    if "://" not in db:  # SQLite file
        assert _db_rows(db, "PRAGMA integrity_check") == [("ok",)]
        assert _db_rows(db, "PRAGMA foreign_key_check") == []
    duplicates = _db_rows(
        db, "SELECT bundle_sha256, COUNT(*) FROM runs GROUP BY bundle_sha256 HAVING COUNT(*) > 1"
    )
    assert duplicates == []


def test_killed_agent_mid_job_its_job_runs_again_and_counts_once(loop_db, tmp_path):
    server = start_server(
        loop_db, tmp_path / "server", lease_s="8", extra_record_backends='["local"]'
    )
    first_dir, second_dir = tmp_path / "agent-1", tmp_path / "agent-2"
    try:
        k1 = register_agent_key(server, "agent-1")
        k2 = register_agent_key(server, "agent-2")
        sid = submit(server, VARIANT, "cpu-smoke", _token(server), "fault test")
        first = start_agent(server, k1, first_dir, *LOCAL)
        wait_until(lambda: job_of(server, sid)["state"] == "RUNNING", 120, "agent-1's lease")
        wait_until(lambda: list((first_dir / "sessions").glob("*")), 120, "a run to start")
        kill_group(first, signal.SIGKILL)  # mid-run: no bundle, no completion, no goodbye
        kill_matching(str(first_dir))
        second = start_agent(server, k2, second_dir, *LOCAL)
        job = wait_until(
            lambda: (j := job_of(server, sid))["state"] in ("FINISHED", "FAILED") and j,
            600,
            "the job to finish on agent-2",
        )
        kill_group(second, signal.SIGTERM)
    finally:
        server.kill()
        kill_matching(str(tmp_path))
    assert job["state"] == "FINISHED", job
    assert job["runner"] == "agent-2" and job["expiries"] >= 1
    assert len(job["runs_done"]) == job["runs_total"] == 2
    runs = _db_rows(loop_db, f"SELECT run_id, job_id FROM runs WHERE job_id = {job['id']}")
    assert sorted(r[0] for r in runs) == sorted(job["runs_done"])  # each run counted once
    assert acked_bundles(first_dir) == []  # the killed agent never delivered anything
    _check_integrity(loop_db)


def test_killed_server_during_uploads_every_acknowledged_bundle_stored_once(loop_db, tmp_path):
    server = start_server(loop_db, tmp_path / "server", extra_record_backends='["local"]')
    work = tmp_path / "agent"
    log = work / "agent.log"
    try:
        key = register_agent_key(server, "agent-1")
        sid = submit(server, VARIANT, "cpu-smoke", _token(server), "fault test")
        agent = start_agent(server, key, work, *LOCAL)
        # The agent's own word that it holds the job: the server shows RUNNING as soon as the
        # lease commits, and a kill before the claim's answer arrives would strand the job.
        wait_until(
            lambda: log.exists() and "leased job" in log.read_text(), 120, "the agent's lease"
        )
        for i in range(2):  # for each run: the server dies, the agent's uploads hit nothing
            server.kill()
            wait_until(lambda: len(pending_bundles(work)) == 1, 600, "a bundle to upload")
            seen = log.read_text().count("server unavailable")
            wait_until(
                lambda seen=seen: log.read_text().count("server unavailable") > seen + 1,
                120,
                "the agent to retry its upload",
            )
            server.start()
            wait_until(lambda n=i + 1: len(acked_bundles(work)) == n, 120, "the acknowledgement")
        job = wait_until(
            lambda: (j := job_of(server, sid))["state"] in ("FINISHED", "FAILED") and j,
            300,
            "the job to finish",
        )
        kill_group(agent, signal.SIGTERM)
        stored = server.api(f"/attempts/{job['attempt_id']}")["runs"]
    finally:
        server.kill()
        kill_matching(str(tmp_path))
    assert job["state"] == "FINISHED", job
    acked = acked_bundles(work)
    assert len(acked) == 2 and pending_bundles(work) == []
    assert sorted(r["run_id"] for r in stored) == sorted(job["runs_done"])
    _check_integrity(loop_db)
