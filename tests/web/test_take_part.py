"""The "take part" page: each open track's rules in full, the harness contract, the commands
to try a variant locally and to submit it, how to get a token, a JSON twin, and a link to it
in the navigation of every kind of page (errors included)."""

from __future__ import annotations

import html
import re
from collections.abc import Iterator
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from fastapi.testclient import TestClient
from support.bundles import TRACK, claim_runs

from server.app import create_app
from server.config import load_settings
from server.services.participation import open_tracks
from server.services.runners import add_runner
from server.services.tokens import create_token
from speedrun.commands.tracks import rule_lines

NAV_LINK = '<li><a href="/take-part">Take part</a></li>'


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[TestClient, dict[str, str]]]:
    db = tmp_path_factory.mktemp("take-part") / "web.db"
    app = create_app(load_settings(db=f"sqlite:///{db}", public_url="https://runs.example.org/"))
    key = Ed25519PrivateKey.generate()
    with app.state.speedrun.db.write() as s:
        add_runner(s, "ci-runner", key.public_key())
        token = create_token(s, "alice")[1]
    with TestClient(app) as client:
        claim = claim_runs(client, key, token, "print('x')\n", [1000.0, 1001.0, 1002.0])
        run_id = claim.answers[0]["run_id"]
        pages = {
            "index": "/",
            "track": f"/tracks/{TRACK}",
            "record": f"/records/{claim.records[0]}",
            "run": f"/runs/{run_id}",
            "submission": f"/submissions/{claim.submission['id']}",
            "take-part": "/take-part",
        }
        yield client, pages
    app.state.speedrun.db.dispose()


def _text(page: str) -> str:
    return html.unescape(re.sub(r"<[^>]+>", "", page))


def test_every_page_links_to_it(site: Any) -> None:
    client, pages = site
    for name, path in pages.items():
        answer = client.get(path)
        assert answer.status_code == 200, name
        nav = answer.text[answer.text.index('<nav aria-label="Site">') :]
        assert NAV_LINK in nav[: nav.index("</nav>")], name
    missing = client.get("/records/999999")
    assert missing.status_code == 404 and NAV_LINK in missing.text  # the error page too


def test_rules_contract_commands_and_token(site: Any) -> None:
    client, _ = site
    page = client.get("/take-part").text
    text = _text(page)
    for track in open_tracks():
        assert f'data-track="{track.key}"' in page
        for label, rule in rule_lines(track):
            assert f"{label}{rule}" in text, (track.key, label)  # <dt>label</dt><dd>rule</dd>
    assert "cpu-tiny@v2" in text and "gpt2-124m-8xh100@v2" in text
    assert "modded-nanogpt-short@v1" in text  # named as closed
    assert "SPEEDRUN_CONFIG" in text and "warmup_end" in text and "torch.export" in text
    assert "speedrun run train_gpt.py --track cpu-tiny@v2 --runs 3 --backend local" in text
    assert "speedrun data fetch --track cpu-tiny@v2" in text
    assert (
        'speedrun submit train_gpt.py --track cpu-tiny@v2 --server https://runs.example.org --token "$SPEEDRUN_TOKEN" --name "Muon improvements"'
        in text
    )
    assert "speedrun admin token-create USER" in text
    assert '<link rel="alternate" type="application/json" href="/api/v1/take-part">' in page


def test_the_json_twin(site: Any) -> None:
    client, _ = site
    moved = client.get("/take-part.json", follow_redirects=False)
    assert moved.status_code == 307 and moved.headers["location"] == "/api/v1/take-part"
    asked = client.get("/take-part", headers={"Accept": "application/json"}, follow_redirects=False)
    assert asked.status_code == 307
    twin = client.get("/api/v1/take-part").json()
    assert [t["track"]["key"] for t in twin["tracks"]] == [t.key for t in open_tracks()]
    assert twin["token"].startswith("Submitting needs an API token")
