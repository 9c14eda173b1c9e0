"""Helpers for the web tests: hand-made signed bundles (for figures chosen by hand; the
browser tests use bundles made by the real runner), records made through jobs (only runs of
a server job count), a uvicorn server in a thread, headless Chromium, and screenshots into
`artifacts/screenshots/` (kept by CI)."""

from __future__ import annotations

import re
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from support import bundles, serving

from speedrun.tracks import get_track

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
    """The shared log (support.bundles) with a val point half-way, for the loss curves."""
    return bundles.step_log(time_ms, val_loss, steps, midpoint=True)


def make_bundle(
    key: Ed25519PrivateKey,
    *,
    source: str,
    time_ms: float,
    val_loss: float,
    seed: int = 0,
    track: str = TRACK,
    backend: str = "docker",
    image_digest: str = bundles.IMAGE_DIGEST,
    name: str = "variant",
    log_extra: str = "",
    job: dict[str, Any] | None = None,
) -> bytes:
    """A correctly signed bundle with these figures (support.bundles' manifest, which keeps
    every rule), its step and token counts filled in for the pages; `job` (a claim answer's id
    and nonce) makes it a run of that job."""
    m = bundles.manifest(
        track=track,
        source=source,
        time_ms=time_ms,
        val_loss=val_loss,
        seed=seed,
        backend=backend,
        image_digest=image_digest,
        name=name,
        job=job,
    )
    m["figures"] |= {"steps": 4, "train_tokens": 4096}
    log = log_extra + step_log(time_ms, val_loss)
    return bundles.make_bundle(key, m, source=source, log=log)


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
    """support.serving's server in a thread; yield its base URL."""
    with serving.live_server(app) as port:
        yield f"http://127.0.0.1:{port}"


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
