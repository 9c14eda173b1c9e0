"""Scale out: three agents on one machine share one server's queue on PostgreSQL.

Three submissions, three agents started together: every job runs on exactly one agent, each
agent gets work, and every job finishes with exactly its runs. (cpu-smoke keeps this quick in
CI; `benchmarks/scale_out.py` runs the same on cpu-tiny.)
"""

from __future__ import annotations

import signal
from pathlib import Path

import pytest
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

pytestmark = [pytest.mark.slow, pytest.mark.postgres]
REPO = Path(__file__).resolve().parents[2]


def variants(tmp_path: Path) -> list[Path]:
    """Three different variants: the two references and a renamed copy of one."""
    seed = REPO / "records" / "seed-recipe" / "train_gpt.py"
    copy = tmp_path / "seed_copy.py"
    copy.write_text(seed.read_text() + "\n# the same recipe, submitted again as a new variant\n")
    return [seed, REPO / "records" / "llmc-baseline" / "train_gpt.py", copy]


def test_three_agents_share_the_queue_on_postgresql(pg_server, tmp_path):
    from sqlalchemy import create_engine, text

    engine = create_engine(f"{pg_server}/postgres", isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(text("CREATE DATABASE scaleout"))
    engine.dispose()
    server = start_server(
        f"{pg_server}/scaleout", tmp_path / "server", extra_record_backends='["local"]'
    )
    agents = []
    try:
        token = server.admin("token-create", "alice").strip().splitlines()[-1]
        subs = [
            submit(server, v, "cpu-smoke", token, f"variant {i}")
            for i, v in enumerate(variants(tmp_path))
        ]
        keys = [register_agent_key(server, f"agent-{i}") for i in range(3)]
        agents = [
            start_agent(server, k, tmp_path / f"agent-{i}", "--backend", "local")
            for i, k in enumerate(keys)
        ]
        jobs = wait_until(
            lambda: (
                (js := [job_of(server, s) for s in subs])
                and all(j["state"] in ("FINISHED", "FAILED") for j in js)
                and js
            ),
            900,
            "all three jobs to finish",
            every_s=2,
        )
    finally:
        for proc in agents:
            kill_group(proc, signal.SIGTERM)
        server.kill()
        kill_matching(str(tmp_path))
    assert [j["state"] for j in jobs] == ["FINISHED"] * 3, jobs
    assert sorted(j["runner"] for j in jobs) == ["agent-0", "agent-1", "agent-2"]
    assert all(j["expiries"] == 0 for j in jobs)  # no job was ever held by two agents
    run_ids = [r for j in jobs for r in j["runs_done"]]
    assert len(run_ids) == len(set(run_ids)) == sum(j["runs_total"] for j in jobs)
