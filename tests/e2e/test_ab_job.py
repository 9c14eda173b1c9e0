"""An A/B job end to end: a real agent (local backend) leases a job that carries a baseline
variant, runs the pairs interleaved (baseline first), and uploads both sides of each pair with
the job's signed id and nonce; the server files the baseline side with the baseline's attempt
as `ab-baseline` and the candidate side as the claim.

The server makes such jobs for submissions on tracks that demand paired runs against a
standing record (the GPU tracks, which cannot run here); this test turns a cpu-smoke job into
one in the database, which is the only step not taken through the product."""

from __future__ import annotations

import hashlib
import signal
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from support.loop import (
    job_of,
    kill_group,
    kill_matching,
    register_agent_key,
    start_agent,
    start_server,
    submit,
    wait_until,
)

from server.config import normalize_db_url

pytestmark = [pytest.mark.slow]
REPO = Path(__file__).resolve().parents[2]
TINY = REPO / "tests" / "runner" / "variants" / "tiny_harness.py"


def _sql(db: str, statement: str, **params: object) -> list[tuple[object, ...]]:
    engine = create_engine(normalize_db_url(db))
    with engine.begin() as conn:
        result = conn.execute(text(statement), params)
        rows = [tuple(r) for r in result] if result.returns_rows else []
    engine.dispose()
    return rows


def test_an_agent_runs_an_ab_job_pair_by_pair(tmp_path: Path) -> None:
    db = str(tmp_path / "speedrun.db")
    server = start_server(db, tmp_path / "server")
    baseline = tmp_path / "baseline.py"
    baseline.write_text(TINY.read_text())
    candidate = tmp_path / "candidate.py"
    candidate.write_text(TINY.read_text() + "\n# the candidate: same recipe, other code\n")
    agent = None
    try:
        key = register_agent_key(server, "agent-1")
        token = server.admin("token-create", "alice").strip().splitlines()[-1]
        base_sid = submit(server, baseline, "cpu-smoke", token, "the baseline")
        _sql(
            db, "UPDATE jobs SET state = 'FAILED' WHERE id = :id", id=job_of(server, base_sid)["id"]
        )
        sid = submit(server, candidate, "cpu-smoke", token, "the candidate")
        job_id = job_of(server, sid)["id"]
        base_sha = hashlib.sha256(baseline.read_bytes()).hexdigest()
        _sql(
            db,
            "UPDATE jobs SET baseline_sha256 = :sha, runs_total = 4 WHERE id = :id",
            sha=base_sha,
            id=job_id,
        )
        agent = start_agent(server, key, tmp_path / "agent", "--backend", "local")
        job = wait_until(
            lambda: (j := job_of(server, sid))["state"] in ("FINISHED", "FAILED") and j,
            600,
            "the A/B job",
        )
    finally:
        if agent is not None:
            kill_group(agent, signal.SIGTERM)
        server.kill()
        kill_matching(str(tmp_path))
    assert job["state"] == "FINISHED", job
    rows = _sql(
        db,
        "SELECT r.purpose, r.ab_role, r.ab_pair_index, a.variant_sha256 FROM runs r "
        "JOIN attempts a ON a.id = r.attempt_id WHERE r.job_id = :id ORDER BY r.id",
        id=job_id,
    )
    cand_sha = hashlib.sha256(candidate.read_bytes()).hexdigest()
    assert [(p, role) for p, role, _, _ in rows] == [
        ("ab-baseline", "baseline"),
        ("claim", "candidate"),
    ] * 2
    assert [sha for *_, sha in rows] == [base_sha, cand_sha] * 2
