"""Cheats submitted the way a record is claimed: through the server, run by an agent in
containers (docker backend, podman) on cpu-tiny with the deployment's held-out secret. Each
job's runs are stored with their failure status and reasons, and none of them makes a record.

The cheats are those of tests/runner/test_cheats.py: a look-ahead model past fixed
probes (class 1), the clock stopped at an early export (class 2), training hidden in a
validation pause (class 3)."""

from __future__ import annotations

import os
import shutil
import signal
from collections.abc import Iterator
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

from speedrun.data.heldout import init_secret

pytestmark = [pytest.mark.slow, pytest.mark.container, pytest.mark.timeout(1800)]
REPO = Path(__file__).resolve().parents[2]
CHEATS = REPO / "tests" / "runner" / "variants" / "cheats"
NAMES = ("lookahead", "early_export", "pause_trains")


def cheat_source(name: str, dest: Path) -> Path:
    common = (CHEATS / "common.py").read_text()
    text = (CHEATS / f"{name}.py").read_text()
    lines = [common if ln.startswith("from common import *") else ln for ln in text.splitlines()]
    path = dest / f"{name}.py"
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.fixture(scope="module")
def engine_env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """podman's Docker-API service and the CPU image, for the agent's environment."""
    if shutil.which("podman") is None:
        pytest.fail("podman is missing: scripts/system-deps.sh installs it")
    from runner.image import build_image
    from runner.podman import start_service

    service = start_service(tmp_path_factory.mktemp("podman"))
    try:
        env = {**os.environ, "DOCKER_HOST": service.docker_host}
        os.environ["DOCKER_HOST"] = service.docker_host
        build_image("cpu", progress=False)
        yield env
    finally:
        os.environ.pop("DOCKER_HOST", None)
        service.stop()


def test_three_cheats_through_jobs_never_make_a_record(
    tmp_path: Path, engine_env: dict[str, str]
) -> None:
    server = start_server(str(tmp_path / "speedrun.db"), tmp_path / "server")
    secret = tmp_path / "held-out.secret"
    init_secret(secret)
    agent = None
    try:
        key = register_agent_key(server, "agent-1")
        token = server.admin("token-create", "mallory").strip().splitlines()[-1]
        sids = [
            submit(server, cheat_source(n, tmp_path), "cpu-tiny", token, f"cheat {n}")
            for n in NAMES
        ]
        env = {**server.env, "DOCKER_HOST": engine_env["DOCKER_HOST"]}
        agent = start_agent(
            server, key, tmp_path / "agent", "--backend", "docker", "--held-out", str(secret),
            env=env,
        )  # fmt: skip
        jobs = [
            wait_until(
                lambda sid=sid: (j := job_of(server, sid))["state"] in ("FINISHED", "FAILED") and j,
                1500,
                f"submission {sid}'s job",
            )
            for sid in sids
        ]
        runs = [server.api(f"/runs/{run_id}") for job in jobs for run_id in job["runs_done"]]
        board = server.api("/tracks/cpu-tiny/leaderboard")
    finally:
        if agent is not None:
            kill_group(agent, signal.SIGTERM)
        server.kill()
        kill_matching(str(tmp_path))
    assert board["entries"] == [], board  # no record from any of them
    assert runs, "no run was stored"
    statuses = {r["status"] for r in runs}
    assert statuses <= {"rule_violation"}, [(r["run_id"], r["status"]) for r in runs]
    for run in runs:
        assert run["violations"] or run["exit_reason"], run
        assert run["counts"] is False
    reasons = " ".join(str(r.get("exit_reason")) for r in runs)
    assert "causal" in reasons and "export event" in reasons and "validation pauses" in reasons
