"""The whole loop, end to end, as a newcomer gets it: `scripts/demo.sh` (what `make demo` runs)
brings up podman, the CPU runner image, the server on SQLite and an agent (docker backend),
and submits the seed recipe on cpu-tiny. Then, with a second agent:

1. the submission becomes a record, independently evaluated, signed, made in a container
   (and a screenshot of the page is kept for CI's artifacts);
2. a scheduled re-verification (the top-K policy) reproduces it;
3. a re-run in a deliberately slowed environment (CPU hogs beside it) is flagged as drifted,
   and the verdict names the machine conditions the run's own telemetry showed.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from support.loop import Server, get_json, kill_matching, speedrun, start_agent, wait_until
from support.postgres import free_port

from speedrun.tracks import get_track

# The first test waits up to 2400 s for three cpu-tiny runs in containers (about 330 s on two
# idle cores); the suite's default per-test timeout (900 s) would cut that wait short on a
# loaded host.
pytestmark = [pytest.mark.slow, pytest.mark.container, pytest.mark.timeout(2700)]
REPO = Path(__file__).resolve().parents[2]
SCREENSHOTS = REPO / "artifacts" / "screenshots"


@dataclass
class Demo:
    folder: Path
    server: Server
    env: dict[str, str]

    @property
    def db(self) -> str:
        return str(self.folder / "speedrun.db")


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Demo]:
    if shutil.which("podman") is None:
        pytest.fail("podman is missing: scripts/system-deps.sh installs it")
    folder = tmp_path_factory.mktemp("demo")
    port = free_port()
    env = {
        **os.environ,
        "DEMO_DIR": str(folder),
        "PORT": str(port),
        "DEMO_BACKEND": "docker",
        "DEMO_VARIANTS": "seed-recipe",
        "VENV": str(Path(sys.executable).parent.parent),
        # Re-runs: one per job to keep CI short; a band of +-75% around the record's mean
        # time, so that only a real slowdown reads as drift, not CI noise: one unhogged re-run
        # on a busy CI host took 1.42x the record's mean (89 s beside 58-65 s), while four CPU
        # hogs beside the two trainers make it about 3x (two hogs measured 2.3x).
        "SPEEDRUN_REVERIFY_RUNS": "1",
        "SPEEDRUN_REVERIFY_TIME_TOLERANCE": "0.75",
        "SPEEDRUN_REVERIFY_SCAN_INTERVAL_S": "0",
    }
    done = subprocess.run(
        ["bash", str(REPO / "scripts" / "demo.sh")],
        env=env,
        capture_output=True,
        text=True,
        timeout=1800,
        check=False,
    )
    stop = ["bash", str(REPO / "scripts" / "demo.sh"), "stop"]
    try:
        assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
        assert f"Leaderboard: http://127.0.0.1:{port}/" in done.stdout.splitlines()
        server = Server(db=str(folder / "speedrun.db"), folder=folder, env=env, port=port)
        yield Demo(folder=folder, server=server, env=env)
    finally:
        subprocess.run(stop, env=env, capture_output=True, timeout=120, check=False)
        kill_matching(str(folder))


def _record(demo: Demo) -> dict[str, Any]:
    board = demo.server.api("/tracks/cpu-tiny/leaderboard")
    return board["entries"][0] if board["entries"] else {}


def _screenshot(url: str, name: str) -> Path:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    opts = webdriver.ChromeOptions()
    for flag in (
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--no-first-run",
        "--disable-sync",
        "--window-size=1280,1000",
    ):
        opts.add_argument(flag)
    opts.binary_location = "/usr/bin/chromium"
    driver = webdriver.Chrome(options=opts, service=Service("/usr/bin/chromedriver"))
    try:
        driver.get(url)
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        path = SCREENSHOTS / name
        driver.save_screenshot(str(path))
        text = driver.find_element("tag name", "body").text
    finally:
        driver.quit()
    assert "cpu-tiny" in text
    return path


def test_a_submission_becomes_a_verified_record(demo: Demo) -> None:
    entry = wait_until(lambda: _record(demo), 2400, "the seed recipe's record", every_s=5)
    record = demo.server.api(f"/records/{entry['record_id']}")
    assert record["status"] == "current"
    runs = [demo.server.api(f"/runs/{r['run_id']}") for r in record["runs"]]
    assert len(runs) == 3
    for run in runs:
        manifest = run["manifest"]
        assert manifest["backend"] == "docker"
        assert manifest["figures"]["val_loss_source"] == "independently-evaluated"
        assert manifest["fingerprint"]["image"]["digest"]
    losses = [run["manifest"]["figures"]["val_loss"] for run in runs]
    assert sum(losses) / len(losses) < get_track("cpu-tiny").rules.target_val_loss
    png = _screenshot(f"{demo.server.url}/", "demo-leaderboard.png")
    assert png.stat().st_size > 10_000


def _reverified(demo: Demo, record_id: int, count: int) -> list[dict[str, Any]]:
    entries: list[dict[str, Any]] = demo.server.api(f"/records/{record_id}")["verifications"]
    return entries if len(entries) >= count else []


@pytest.fixture(scope="module")
def second_agent(demo: Demo) -> Iterator[None]:
    key = demo.folder / "agent-2.key"
    speedrun("keys", "init", "--key", str(key))
    demo.server.admin("runner-add", "agent-2", f"{key}.pub")
    env = {**demo.env, "DOCKER_HOST": f"unix://{demo.folder / 'podman.sock'}"}
    proc = start_agent(demo.server, key, demo.folder / "agent-2", "--backend", "docker", env=env)
    yield
    os.killpg(proc.pid, signal.SIGTERM)
    proc.wait(timeout=120)


def test_a_scheduled_reverification_reproduces_it(demo: Demo, second_agent: None) -> None:
    record_id = _record(demo)["record_id"]
    out = demo.server.admin("reverify-due", "--top-k", "1", "--every-days", "0")
    assert "queued" in out
    [entry] = wait_until(lambda: _reverified(demo, record_id, 1), 1200, "the re-run", 5)
    assert entry["status"] == "reproduced", entry
    assert entry["image_digest"]


def test_a_slowed_rerun_is_flagged_as_drifted(demo: Demo, second_agent: None) -> None:
    record_id = _record(demo)["record_id"]
    hog = "import itertools\nfor _ in itertools.count(): pass\n"
    # Busy processes halve the run's CPU at least (2x slower is far outside a record's band);
    # twice as many as the cores made the slowed run take over 10 minutes on CI.
    # One more than the cores, so that the competition stays above the track's `cpu_load`
    # bar (more than one runnable task per CPU beyond the attempt's own) whatever else runs.
    hogs = [subprocess.Popen([sys.executable, "-c", hog]) for _ in range((os.cpu_count() or 2) + 1)]
    try:
        demo.server.admin("reverify", str(record_id), "--runs", "1")
        entries = wait_until(lambda: _reverified(demo, record_id, 2), 2400, "the slow re-run", 5)
    finally:
        for proc in hogs:
            proc.kill()
    latest = max(entries, key=lambda e: e["id"])
    assert latest["status"] == "drifted", latest
    assert "time" in latest["detail"]
    # The server recomputed the conditions from the re-run's telemetry (never the runner's
    # own list), and blames the machine rather than the code.
    assert latest["verdict"] == "drifted: machine conditions", latest
    assert "cpu_load" in [c["name"] for c in latest["conditions"]], latest["conditions"]
    page = get_json(f"{demo.server.url}/api/v1/tracks/cpu-tiny/leaderboard")
    assert page["entries"][0]["evidence"]["verification"]["status"] == "drifted"
