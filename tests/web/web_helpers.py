"""Helpers for the web tests: hand-made signed bundles (for figures chosen by hand; the
browser tests use bundles made by the real runner), records made through jobs (only runs of
a server job count), a uvicorn server in a thread, headless Chromium, and screenshots into
`artifacts/screenshots/` (kept by CI)."""

from __future__ import annotations

import hashlib
import re
import shutil
import socket
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import uvicorn
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from speedrun import signing
from speedrun.bundle import build_bundle
from speedrun.tracks import Track, get_track

REPO = Path(__file__).resolve().parents[2]
SCREENSHOTS = REPO / "artifacts" / "screenshots"
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMEDRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"
SMOKE_RUNS = 3  # runs of each cpu-smoke variant the web tests make (see conftest)
TRACK = "cpu-tiny"  # where the hand-made records go: the live public CPU track
RUNS = get_track(TRACK).rules.runs_required
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; "
    "connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'none'; "
    "form-action 'self'; frame-ancestors 'none'"
)


def step_log(time_ms: float, val_loss: float, steps: int = 4) -> str:
    """A log in the modded-nanogpt line format: a val point at step 0 and at the end."""
    lines = [f"step:0/{steps} val_loss:5.5000 train_time:0ms step_avg:nanms"]
    for s in range(1, steps + 1):
        t = time_ms * s / steps
        lines.append(f"step:{s}/{steps} train_loss:{5 - s * 0.1:.4f} train_time:{t:.0f}ms")
        if s == steps // 2:
            mid = (5.5 + val_loss) / 2
            lines.append(f"step:{s}/{steps} val_loss:{mid:.4f} train_time:{t:.0f}ms")
    lines.append(f"step:{steps}/{steps} val_loss:{val_loss:.4f} train_time:{time_ms:.0f}ms")
    return "\n".join(lines) + "\n"


def _figures(time_ms: float, val_loss: float) -> dict[str, Any]:
    """Figures that keep every rule: the script's time and loss agree with the runner's."""
    return {
        "time_ms": time_ms,
        "time_source": "runner-measured",
        "val_loss": val_loss,
        "val_loss_source": "independently-evaluated",
        "independent_val_loss": val_loss,
        "self_reported_val_loss": val_loss,
        "self_reported_train_time_ms": time_ms,
        "time_disagreement": 0.0,
        "private_val_loss": round(val_loss + 0.01, 4),
        "steps": 4,
        "train_tokens": 4096,
    }


def _fingerprint(live: Track, image_digest: str) -> dict[str, Any]:
    """On a held-out track, the deployment's held-out data and its commitment."""
    held = live.evaluation.held_out
    return {
        "image": {"name": "speedrun-cpu", "digest": image_digest},
        "data": {
            "dataset": live.dataset.name,
            "revision": "1",
            "files": {},
            "held_out": None if held == "none" else {"kind": held, "commitment": "c0" * 32},
        },
        "software": {"python": "3.11"},
        "hardware": {"cpu_count": 2},
    }


def make_bundle(
    key: Ed25519PrivateKey,
    *,
    source: str,
    time_ms: float,
    val_loss: float,
    seed: int = 0,
    track: str = TRACK,
    backend: str = "docker",
    image_digest: str = "sha256:" + "ab" * 32,
    name: str = "variant",
    log_extra: str = "",
    job: dict[str, Any] | None = None,
) -> bytes:
    """A correctly signed bundle with these figures (the shape the runner writes); `job` (a
    claim answer's id and nonce) makes it a run of that job."""
    code = source.encode()
    live = get_track(track)
    manifest: dict[str, Any] = {
        "schema_version": 1,
        "kind": "speedrun-run",
        "run_id": uuid.uuid4().hex,
        "job": job,
        "track": {"id": track, "version": live.version},
        "variant": {
            "sha256": hashlib.sha256(code).hexdigest(),
            "path": "train_gpt.py",
            "harness": True,
            "name": name,
        },
        "backend": backend,
        "seed": seed,
        "ab": None,
        "exit": {"status": "completed", "code": 0, "reason": None},
        "figures": _figures(time_ms, val_loss),
        "flags": [],
        "fingerprint": _fingerprint(live, image_digest),
        "runner": {"key_id": signing.key_id(key.public_key()), "version": "test"},
        "timing": {"method": "harness-events", "cap_exceeded": False, "problems": []},
        "evaluation": {"ok": True, "val_loss": val_loss, "causality": {"passed": True}},
        "started_at": "2026-01-01T00:00:00+00:00",
        "finished_at": "2026-01-01T00:01:00+00:00",
        "members": {},
        "signature": {},
    }
    log = log_extra + step_log(time_ms, val_loss)
    members = {"train_gpt.py": code, "log.txt": log.encode()}
    return build_bundle(manifest, members, key)


def record_through_a_job(
    client: Any,
    key: Ed25519PrivateKey,
    token: str,
    source: str,
    times: list[float],
    losses: list[float],
    **fields: Any,
) -> list[int]:
    """Submit `source`, run its job with these figures (one run per time), complete it; the
    records its runs established."""
    from support.claims import run_claim

    def make(job: dict[str, Any], i: int) -> bytes:
        figures = {"time_ms": times[i], "val_loss": losses[i], "seed": i, **fields}
        return make_bundle(key, source=source, job=job, **figures)

    track = fields.get("track", TRACK)
    return run_claim(client, key, token, source, track, make, runs=len(times)).records


@contextmanager
def live_server(app: Any) -> Iterator[str]:
    """Serve `app` with uvicorn on 127.0.0.1 at a free port in a thread; yield its base URL."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port: int = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(10)
        sock.close()


def chrome(width: int = 1280, height: int = 1000) -> Any:
    """Headless Chromium under chromedriver, with a fresh profile and no network chatter."""
    from selenium import webdriver
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service

    options = Options()
    options.binary_location = CHROMIUM
    profile = tempfile.mkdtemp(prefix="web-tests-chrome-")
    for arg in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--no-first-run",
        "--disable-sync",
        "--disable-dev-shm-usage",
        f"--user-data-dir={profile}",
        f"--window-size={width},{height}",
    ):
        options.add_argument(arg)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(60)
    return driver


def screenshot(driver: Any, name: str, *, full_page: bool = True) -> Path:
    """A PNG of the current page under artifacts/screenshots/ (the whole page by default)."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{re.sub(r'[^a-z0-9-]+', '-', name.lower())}.png"
    size = driver.get_window_size()
    if full_page:
        height = driver.execute_script("return document.documentElement.scrollHeight")
        driver.set_window_size(size["width"], min(max(height, 600), 8000))
    driver.save_screenshot(str(path))
    driver.set_window_size(size["width"], size["height"])
    assert path.stat().st_size > 1000
    return path
