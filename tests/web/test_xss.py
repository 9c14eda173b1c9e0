"""Untrusted text stays text: names, descriptions, authors, code, diffs and logs carrying
script and HTML payloads render escaped on every page, in the browser nothing runs, no
injected element exists and no javascript: link is made, and every response carries the
Content-Security-Policy. The payloads arrive the ways real data does: signed bundles through
a job's upload route (and one unsolicited, through POST /api/v1/runs), imported history
through the importer (a checkout's README table and logs), a submission through
POST /api/v1/submissions by a user whose name is a payload."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from selenium.common.exceptions import TimeoutException
from selenium.webdriver.support import expected_conditions as ec
from selenium.webdriver.support.ui import WebDriverWait
from support.claims import run_claim
from support.history_checkout import Row, import_checkout
from web_helpers import CSP, TRACK, live_server, make_bundle, screenshot, step_log

from server.app import create_app
from server.config import load_settings
from server.services.runners import add_runner
from server.services.tokens import create_token
from speedrun.tracks import get_track

PAYLOADS = [
    "<script>alert(1)</script>",
    '"><img src=x onerror=alert(1)>',
    "'><img src=x onerror=window.__xss=1>",
    "</textarea><script>alert(2)</script>",
    "</pre></code></title><b id=injected>bold</b>",
    "<svg onload=alert(3)>",
    "javascript:alert(4)",
    "[click me](javascript:alert(5))",
    "{{ 7*7 }}",
]
PAYLOAD = " ".join(PAYLOADS)
SHORT = '"><img src=x onerror=alert(1)><script>alert(1)</script>'  # fits name columns
RAW_FORBIDDEN = [
    "<script>alert",
    "<img src=x",
    "<svg onload",
    "<b id=injected",
    'href="javascript:',
]
LOSS = round(get_track(TRACK).rules.target_val_loss - 0.5, 4)


def _bundle(key: Ed25519PrivateKey, code: str, seed: int, job: Any = None) -> bytes:
    return make_bundle(
        key, source=code, time_ms=1000.0 + seed, val_loss=LOSS + seed / 1000, seed=seed,
        name=SHORT, log_extra=f"{PAYLOAD}\n", job=job,
    )  # fmt: skip


def _seed(app: Any, base: str, history: Path) -> dict[str, str]:
    key = Ed25519PrivateKey.generate()
    db = app.state.speedrun.db
    with db.write() as s:
        add_runner(s, "xss-runner", key.public_key())
        _, token = create_token(s, SHORT)
    code = f"# {PAYLOAD}\nprint('{SHORT}')\n"
    # An unsolicited upload first (it names the attempt), then the claim through a job.
    assert httpx.post(f"{base}/api/v1/runs", content=_bundle(key, code, 99)).status_code == 201
    with httpx.Client(base_url=base) as client:
        made = run_claim(
            client, key, token, code, TRACK, lambda job, i: _bundle(key, code, i, job),
            description=PAYLOAD,
        ).records  # fmt: skip
    assert len(made) == 1
    rows = [  # through the importer, as `speedrun records import` writes a checkout
        Row(
            f"{(180_000 - i * 1000) / 60_000:.3f} minutes", text, f"1{i}/01/24",
            f"# {text}\n{step_log(180_000 - i * 1000, 3.279)}", f"@a {SHORT}" if i else "@a",
        )
        for i, text in enumerate(("a harmless first record", PAYLOAD))
    ]  # fmt: skip
    import_checkout(db, history, main=rows)
    app.state.speedrun.cache.invalidate()
    sub = httpx.post(
        f"{base}/api/v1/submissions",
        json={"track": TRACK, "source": code + "# again\n", "description": PAYLOAD},
        headers={"authorization": f"Bearer {token}"},
    )
    assert sub.status_code == 201, sub.text
    smoke = httpx.get(f"{base}/api/v1/tracks/{TRACK}/leaderboard").json()["entries"][0]
    imported = httpx.get(f"{base}/api/v1/tracks/modded-nanogpt-short/leaderboard").json()
    mine = next(e for e in imported["entries"] if e["imported"]["number"] == 2)
    imported_run = httpx.get(f"{base}/api/v1/records/{mine['record_id']}").json()["runs"][0]
    return {
        "index": "/?hidden=1",
        "track-smoke": f"/tracks/{TRACK}",
        "track-imported": "/tracks/modded-nanogpt-short",
        "record-smoke": f"/records/{smoke['record_id']}",
        "record-imported": f"/records/{mine['record_id']}",
        "run-smoke": f"/runs/{httpx.get(base + smoke['url']).json()['runs'][0]['run_id']}",
        "run-imported": f"/runs/{imported_run['run_id']}",
        "submission": f"/submissions/{sub.json()['id']}",
    }


@pytest.fixture(scope="module")
def xss_site(tmp_path_factory: pytest.TempPathFactory) -> Any:
    db = tmp_path_factory.mktemp("xss") / "xss.db"
    app = create_app(load_settings(db=f"sqlite:///{db}"))
    with live_server(app) as base:
        yield base, _seed(app, base, db.parent / "modded-nanogpt")
    app.state.speedrun.db.dispose()


def test_payloads_are_escaped_in_the_html_and_every_page_has_the_csp(xss_site):
    base, paths = xss_site
    for name, path in paths.items():
        answer = httpx.get(base + path)
        assert answer.status_code == 200, (name, answer.text[:500])
        html = answer.text
        for bad in RAW_FORBIDDEN:
            assert bad not in html, (name, bad)
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html, name
        if name in ("record-imported", "submission"):  # the description, whole
            assert "{{ 7*7 }}" in html, name  # shown, never evaluated as a template
        assert answer.headers["content-security-policy"] == CSP, name
        assert answer.headers["x-content-type-options"] == "nosniff", name
        assert answer.headers["referrer-policy"] == "no-referrer", name
    log = httpx.get(base + paths["run-imported"] + "/log.txt")
    assert log.headers["content-type"].startswith("text/plain")
    assert log.headers["x-content-type-options"] == "nosniff" and PAYLOAD in log.text


@pytest.mark.browser
def test_payloads_render_as_text_in_the_browser(xss_site, browser):
    base, paths = xss_site
    browser.get_log("browser")  # drop anything logged before
    for name, path in paths.items():
        browser.get(base + path)
        try:
            WebDriverWait(browser, 0.5).until(ec.alert_is_present())
            pytest.fail(f"an alert fired on {path}")
        except TimeoutException:
            pass
        found = browser.execute_script(
            """
            const injected = document.querySelectorAll(
                '#injected, img[src="x"], svg[onload], script:not([src])').length;
            const js = [...document.querySelectorAll('a[href]')].filter(
                a => a.getAttribute('href').trim().toLowerCase().startsWith('javascript:')).length;
            return {injected, js, xss: window.__xss === undefined ? null : window.__xss,
                    text: document.body.innerText};
            """
        )
        assert found["injected"] == 0 and found["js"] == 0 and found["xss"] is None, name
        assert "<script>alert(1)</script>" in found["text"], name  # shown, as text
        blocked = [
            e for e in browser.get_log("browser") if "Content Security Policy" in e["message"]
        ]
        assert not blocked, (name, blocked)  # nothing even tried to run
        screenshot(browser, f"xss-{name}")
