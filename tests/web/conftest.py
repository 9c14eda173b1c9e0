"""Fixtures for the web tests.

`real_bundles` (once per session) makes result bundles with the real runner CLI, as few as
the checks need: `speedrun keys init`, then
  * the seed recipe with its cpu-smoke schedule stretched to three times the steps, 3 runs:
    a first, slow record there;
  * the seed recipe itself on cpu-smoke, 3 runs, interleaved with those: a faster second
    record that beats the first, so its record page has a diff to show. (The track needs 2
    runs, but Welch's test on 2 runs each has one degree of freedom: one slow run on a busy
    CI host, 9.4 s beside 6.7 s, left p at 0.08. With 3 runs each it has two or more.)
  * the seed recipe on cpu-tiny, SPEEDRUN_WEB_TINY_RUNS runs (default 1: a real cpu-tiny run
    page within the CI budget; one run takes about 2.5 minutes on 2 cores, and a record
    there needs 3, which the tests then check too).
The runs use a held-out secret (`speedrun keys held-out`), as a deployment's runners do, so
they score the tracks' held-out data and can be official.
`site` serves them from a real uvicorn server on 127.0.0.1 (SQLite in a temporary folder),
as the runs of jobs (only those count): each variant submitted, its job claimed by the
runner, each bundle signed again with the job's id and nonce (what the runner writes when an
agent passes it the job) and uploaded through the job's route, as many jobs as its runs
fill; plus the speedrun's imported history when `speedrun records import` exists.
Local-backend runs count there through the server's `extra_record_backends` setting, as in a
demo without a container engine, and the hidden cpu-smoke takes submissions
(`submissions_to_hidden_tracks`).

SPEEDRUN_WEB_BUNDLE_CACHE=DIR keeps the bundles between sessions (for working on the pages;
CI leaves it unset and makes fresh ones).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from support.claims import run_claim, submitter_token, with_job
from web_helpers import CHROMEDRIVER, CHROMIUM, REPO, SMOKE_RUNS, chrome, live_server

from runner.keys import load_signing_key
from server.app import create_app
from server.config import load_settings
from speedrun.bundle import read_bundle
from speedrun.tracks import get_track

SEED_RECIPE = REPO / "records" / "seed-recipe" / "train_gpt.py"
HISTORY = REPO.parent / "shared" / "fixtures" / "modded-nanogpt"
SPEEDRUN = [sys.executable, "-m", "speedrun.cli"]
TINY_RUNS = int(os.environ.get("SPEEDRUN_WEB_TINY_RUNS", "1"))
_SMOKE_STEPS = re.compile(r'("cpu-smoke": Schedule\(\s*steps=)(\d+),')
SLOWER_STEPS_FACTOR = 3


def slower_variant(source: str) -> str:
    """The seed recipe with three times its cpu-smoke steps: the same code paths, a run about
    three times as slow (and a lower loss) that the seed recipe itself then beats on time. (At
    1.5x and 2x, two runs each did not always tell them apart at p < 0.05 on a busy machine.)"""
    match = _SMOKE_STEPS.search(source)
    assert match, "the seed recipe no longer has a cpu-smoke schedule with steps=N"
    more = int(match.group(2)) * SLOWER_STEPS_FACTOR
    note = "  # web tests: three times the steps, a slower first record"
    return f"{source[: match.start()]}{match.group(1)}{more},{note}{source[match.end() :]}"


def _speedrun(*args: str, env: dict[str, str], timeout: float = 900) -> str:
    proc = subprocess.run(
        [*SPEEDRUN, *args], env=env, capture_output=True, text=True, timeout=timeout, cwd=REPO
    )
    # 1 = the runner's verdict "no record" (local backend); anything else is a failure.
    assert proc.returncode in (0, 1), proc.stdout[-3000:] + proc.stderr[-3000:]
    return proc.stdout


def _run(variant: Path, track: str, runs: int, seed: int, out: Path, key: Path, env: Any) -> None:
    _speedrun(
        "run", str(variant), "--track", track, "--runs", str(runs), "--backend", "local",
        "--out", str(out), "--key", str(key), "--seed", str(seed), "--quiet",
        env=env,
    )  # fmt: skip
    made = sorted(out.glob("*.bundle.tar.gz"))
    assert len(made) == runs, f"{len(made)} bundles of {runs} in {out}"


@dataclass(frozen=True)
class RealBundles:
    key: Path
    pubkey: Path
    smoke_first: list[bytes]  # three times the seed recipe's steps on cpu-smoke: slower
    smoke_faster: list[bytes]  # the seed recipe on cpu-smoke: beats the first
    tiny: list[bytes]  # the seed recipe on cpu-tiny
    slower_source: str
    timings_s: dict[str, float]


def _load(folder: Path) -> list[bytes]:
    return [p.read_bytes() for p in sorted(folder.glob("*.bundle.tar.gz"))]


def _load_all(folder: Path) -> list[bytes]:
    """The bundles of every run folder under `folder`, by seed."""
    return [b for sub in sorted(folder.iterdir(), key=lambda p: int(p.name)) for b in _load(sub)]


@pytest.fixture(scope="session")
def real_bundles(tmp_path_factory: pytest.TempPathFactory) -> RealBundles:
    if not SEED_RECIPE.exists():
        pytest.skip(f"the seed recipe is missing: {SEED_RECIPE}")
    cached = os.environ.get("SPEEDRUN_WEB_BUNDLE_CACHE")
    root = Path(cached) if cached else tmp_path_factory.mktemp("web-bundles")
    root.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "SPEEDRUN_DATA_DIR": str(root / "data")}
    key, held_out = root / "key", root / "held-out"
    if not key.exists():
        _speedrun("keys", "init", "--key", str(key), env=env)
    if not held_out.exists():
        _speedrun("keys", "held-out", str(held_out), env=env)
    env["SPEEDRUN_HELD_OUT"] = str(held_out)
    slower = root / "slower" / "train_gpt.py"
    slower.parent.mkdir(exist_ok=True)
    slower.write_text(slower_variant(SEED_RECIPE.read_text()))
    # The two cpu-smoke variants run interleaved (slower, seed, slower, seed, ...), so a change
    # in the machine's load between them weighs on both alike.
    smoke_seeds = range(1, SMOKE_RUNS + 1)
    plan = [
        *((f"smoke-first/{seed}", slower, "cpu-smoke", seed) for seed in smoke_seeds),
        *((f"smoke-faster/{seed}", SEED_RECIPE, "cpu-smoke", seed) for seed in smoke_seeds),
        *((f"tiny/{seed}", SEED_RECIPE, "cpu-tiny", seed) for seed in range(1, TINY_RUNS + 1)),
    ]
    plan.sort(key=lambda step: (step[0].startswith("tiny"), step[3], step[0]))
    timings = {}
    for name, variant, track, seed in plan:
        out = root / name
        if not out.exists() or len(_load(out)) != 1:
            shutil.rmtree(out, ignore_errors=True)
            out.parent.mkdir(parents=True, exist_ok=True)
            t0 = time.monotonic()
            _run(variant, track, 1, seed, out, key, env)
            timings[name] = round(time.monotonic() - t0, 1)
    print(f"\nweb tests: real bundles made in {json.dumps(timings)} s", file=sys.stderr)
    return RealBundles(
        key=key,
        pubkey=root / "key.pub",
        smoke_first=_load_all(root / "smoke-first"),
        smoke_faster=_load_all(root / "smoke-faster"),
        tiny=_load_all(root / "tiny"),
        slower_source=slower.read_text(),
        timings_s=timings,
    )


def history_importer() -> str | None:
    """Why the imported history cannot be loaded, or None when it can."""
    if not HISTORY.is_dir():
        return f"no modded-nanogpt fixture at {HISTORY}"
    help_text = subprocess.run(
        [*SPEEDRUN, "records", "--help"], capture_output=True, text=True, cwd=REPO
    )
    if help_text.returncode != 0 or "import" not in help_text.stdout:
        return "`speedrun records import` does not exist yet"
    return None


@dataclass
class Site:
    base: str
    db_url: str
    app: Any
    uploads: dict[str, list[dict[str, Any]]]
    history: str | None  # why the imported history is absent; None when it was imported

    def api(self, path: str) -> Any:
        answer = httpx.get(self.base + path, timeout=30)
        assert answer.status_code == 200, answer.text
        return answer.json()


def _upload(client: httpx.Client, key_path: Path, token: str, bundles: list[bytes]) -> list[Any]:
    """The bundles (one variant, one track) as the runs of jobs: as many jobs as they fill."""
    key, _ = load_signing_key(key_path)
    manifest = read_bundle(bundles[0]).manifest
    source = read_bundle(bundles[0]).members[manifest["variant"]["path"]].decode("utf-8")
    ref = manifest["track"]
    per_job = get_track(ref["id"], ref["version"]).rules.runs_required
    answers = []
    for start in range(0, len(bundles), per_job):
        chunk = bundles[start : start + per_job]
        done = run_claim(
            client, key, token, source, f"{ref['id']}@v{ref['version']}",
            lambda job, i, chunk=chunk: with_job(chunk[i], key, job), runs=len(chunk),
        )  # fmt: skip
        answers += done.answers
    return answers


@pytest.fixture(scope="session")
def site(real_bundles: RealBundles, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    folder = tmp_path_factory.mktemp("web-site")
    db_url = f"sqlite:///{folder / 'speedrun.db'}"
    env = {**os.environ, "SPEEDRUN_DB": db_url}
    _speedrun("admin", "runner-add", "laptop", str(real_bundles.pubkey), "--db", db_url, env=env)
    why_not = history_importer()
    if why_not is None:
        _speedrun("records", "import", str(HISTORY), "--db", db_url, env=env)
    settings = load_settings(
        db=db_url, extra_record_backends=["local"], submissions_to_hidden_tracks=True
    )
    app = create_app(settings)
    token = submitter_token(app.state.speedrun.db, "web-submitter")
    with live_server(app) as base, httpx.Client(base_url=base, timeout=60) as client:
        uploads = {
            name: _upload(client, real_bundles.key, token, bundles)
            for name, bundles in (
                ("smoke-first", real_bundles.smoke_first),
                ("smoke-faster", real_bundles.smoke_faster),
                ("tiny", real_bundles.tiny),
            )
        }
        yield Site(base, db_url, app, uploads, why_not)
    app.state.speedrun.db.dispose()


def _browser_missing() -> str | None:
    for path in (CHROMIUM, CHROMEDRIVER):
        if not Path(path).exists():
            return f"{path} is missing (scripts/system-deps.sh installs chromium, chromium-driver)"
    return None


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    missing = _browser_missing()
    if missing:
        pytest.skip(missing)
    driver = chrome()
    yield driver
    driver.quit()
