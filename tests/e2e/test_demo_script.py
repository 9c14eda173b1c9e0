"""`scripts/demo.sh` (what `make demo` runs) on the local backend: it reaches its `Leaderboard:`
line without any reader that closes early, and when a step fails it names the step and stops
everything it started (server, agent), leaving no process behind."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from support.postgres import free_port

REPO = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow


def run_demo(folder: Path, *args: str, **settings: str) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "DEMO_DIR": str(folder),
        "DEMO_BACKEND": "local",
        "DEMO_TRACK": "cpu-tiny",
        "DEMO_VARIANTS": "seed-recipe",
        "VENV": str(Path(sys.executable).parent.parent),
        **settings,
    }
    return subprocess.run(
        ["bash", str(REPO / "scripts" / "demo.sh"), *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
        check=False,
    )


def processes_mentioning(text: str) -> list[str]:
    found = subprocess.run(["pgrep", "-af", text], capture_output=True, text=True, check=False)
    return [line for line in found.stdout.splitlines() if "pgrep" not in line]


def answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2):
            return True
    except (urllib.error.URLError, OSError):
        return False


@pytest.mark.parametrize(
    ("settings", "step", "code"),
    [
        ({"DEMO_VARIANTS": "seed-recipe no-such-variant"}, "submitting no-such-variant", 2),
        ({"DEMO_TRACK": "no-such-track"}, "submitting seed-recipe", 1),
    ],
)
def test_a_failed_step_is_named_and_stops_what_the_demo_started(
    tmp_path: Path, settings: dict[str, str], step: str, code: int
) -> None:
    port = free_port()
    result = run_demo(tmp_path, PORT=str(port), **settings)
    assert result.returncode == code, result.stdout + result.stderr
    assert f"failed at step: {step}" in result.stderr
    assert "Leaderboard:" not in result.stdout
    assert "Traceback" not in result.stderr
    # The server and the agent had started (their logs exist) and are gone now.
    assert (tmp_path / "server.log").exists() and (tmp_path / "agent.log").exists()
    assert not list(tmp_path.glob("*.pid"))
    deadline = time.monotonic() + 10
    while processes_mentioning(str(tmp_path)) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert processes_mentioning(str(tmp_path)) == []
    assert not answers(f"http://127.0.0.1:{port}/api/v1/health")


def test_the_demo_reaches_its_leaderboard_line_and_stops(tmp_path: Path) -> None:
    port = free_port()
    try:
        result = run_demo(tmp_path, PORT=str(port))
        assert result.returncode == 0, result.stdout + result.stderr
        assert f"Leaderboard: http://127.0.0.1:{port}/" in result.stdout.splitlines()[-1]
        assert "submission 1:" in result.stdout and "json:" not in result.stdout
        assert answers(f"http://127.0.0.1:{port}/")
    finally:
        stopped = run_demo(tmp_path, "stop", PORT=str(port))
    assert stopped.returncode == 0, stopped.stderr
    assert processes_mentioning(str(tmp_path)) == []
    assert not answers(f"http://127.0.0.1:{port}/api/v1/health")
