"""Hostile human names: names are what a submitter types (`POST /api/v1/submissions`, name
field), within the rules (at most 120 characters, no control characters) but full of markup.
The attempt and the record made from its job's runs carry them; every page that shows a
name (the boards, the record, its runs, the submission, the take-part page's navigation)
escapes it, the JSON answers return it as it was given, and in a real browser nothing runs
and no injected element exists."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from markupsafe import escape
from support.claims import run_claim
from web_helpers import CSP, TRACK, live_server, make_bundle

from server.app import create_app
from server.config import load_settings
from server.services.runners import add_runner
from server.services.tokens import create_token
from speedrun.names import MAX_NAME_CHARS
from speedrun.tracks import get_track

NAMES = [
    '<script>alert("name")</script>',
    '"><img src=x onerror=alert(1)>',
    "'><svg onload=window.__xss=1>",
    "</title><b id=injected>bold</b>",
    "{{ 7*7 }} & <!-- -->",
    "javascript:alert(2)",
]
RAW_FORBIDDEN = ["<script>alert", "<img src=x", "<svg onload", "<b id=injected", "<!-- -->"]
LOSS = round(get_track(TRACK).rules.target_val_loss - 0.5, 4)


def _record(base: str, key: Ed25519PrivateKey, token: str, name: str, i: int) -> dict[str, Any]:
    """A submission named `name`, run to a record (each one faster than the last)."""
    code = f"print({i})\n"
    with httpx.Client(base_url=base) as client:
        named = client.post(
            "/api/v1/submissions",
            json={"track": TRACK, "source": code, "name": name},
            headers={"Authorization": f"Bearer {token}"},
        )
        assert named.status_code == 201, named.text
        done = run_claim(
            client, key, token, code, TRACK,
            lambda job, r: make_bundle(key, source=code, time_ms=9000.0 - 1000 * i + r,
                                       val_loss=LOSS + r / 1000, seed=r, job=job),
        )  # fmt: skip
    assert len(done.records) == 1
    return {"submission": named.json()["id"], "record": done.records[0],
            "run": done.answers[0]["run_id"]}  # fmt: skip


@pytest.fixture(scope="module")
def named_site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, dict[str, str]]]:
    assert all(len(n) <= MAX_NAME_CHARS for n in NAMES)
    db = tmp_path_factory.mktemp("names-xss") / "web.db"
    app = create_app(load_settings(db=f"sqlite:///{db}"))
    key = Ed25519PrivateKey.generate()
    with app.state.speedrun.db.write() as s:
        add_runner(s, "names-runner", key.public_key())
        token = create_token(s, "names-user")[1]
    with live_server(app) as base:
        made = [_record(base, key, token, name, i) for i, name in enumerate(NAMES)]
        paths = {"index": "/?hidden=1", "track": f"/tracks/{TRACK}"}
        for i, m in enumerate(made):
            paths |= {f"record-{i}": f"/records/{m['record']}", f"run-{i}": f"/runs/{m['run']}",
                      f"submission-{i}": f"/submissions/{m['submission']}"}  # fmt: skip
        yield base, paths
    app.state.speedrun.db.dispose()


def test_names_are_escaped_on_every_page(named_site) -> None:
    base, paths = named_site
    for page, path in paths.items():
        answer = httpx.get(base + path)
        assert answer.status_code == 200, page
        assert answer.headers["content-security-policy"] == CSP, page
        for bad in RAW_FORBIDDEN:
            assert bad not in answer.text, (page, bad)
        if page.startswith(("record-", "submission-")):
            i = int(page.rsplit("-", 1)[1])
            assert str(escape(NAMES[i])) in answer.text, page  # shown, escaped as Jinja does
    board = httpx.get(base + f"/tracks/{TRACK}").text
    assert "&lt;script&gt;alert(" in board and "{{ 7*7 }}" in board  # shown, never evaluated


def test_json_answers_return_the_names_as_given(named_site) -> None:
    base, paths = named_site
    board = httpx.get(f"{base}/api/v1/tracks/{TRACK}/leaderboard").json()["entries"]
    assert sorted(e["name"] for e in board) == sorted(NAMES)
    for i, name in enumerate(NAMES):
        record = httpx.get(base + "/api/v1" + paths[f"record-{i}"]).json()
        assert record["name"] == name
        assert httpx.get(base + "/api/v1" + paths[f"submission-{i}"]).json()["name"] == name


@pytest.mark.browser
def test_names_render_as_text_in_the_browser(named_site, browser) -> None:
    base, paths = named_site
    browser.get_log("browser")
    for page, path in paths.items():
        browser.get(base + path)
        found = browser.execute_script(
            """
            return {injected: document.querySelectorAll(
                        '#injected, img[src="x"], svg[onload], script:not([src])').length,
                    xss: window.__xss === undefined ? null : window.__xss,
                    title: document.title, text: document.body.innerText};
            """
        )
        assert found["injected"] == 0 and found["xss"] is None, page
        if page.startswith("record-"):
            name = NAMES[int(page.rsplit("-", 1)[1])]
            assert name in found["text"] and found["title"].startswith(name), page
    blocked = [e for e in browser.get_log("browser") if "Content Security Policy" in e["message"]]
    assert not blocked, blocked
