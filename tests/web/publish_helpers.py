"""Helpers for the snapshot tests: a small site (records made through jobs from signed
bundles, on SQLite), publishing it the way `speedrun publish` does (an app of its own,
in-process), and reading a snapshot's files back."""

from __future__ import annotations

import json
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from fastapi.testclient import TestClient
from support.claims import submitter_token
from web_helpers import RUNS, record_through_a_job

from server.app import create_app
from server.config import Settings, load_settings
from server.services.runners import add_runner
from speedrun.tracks import get_track
from web.publish import refresh, site, snapshot

BASE = "http://snapshot.test/"
LOSS = round(get_track("cpu-tiny").rules.target_val_loss - 0.5, 4)


@dataclass
class SmallSite:
    settings: Settings
    app: Any
    client: TestClient
    key: Ed25519PrivateKey
    token: str

    def record(self, source: str, time_ms: float) -> int:
        """A record of `source` on cpu-tiny through a job (the rule's number of runs)."""
        times = [time_ms + i for i in range(RUNS)]
        [made] = record_through_a_job(
            self.client, self.key, self.token, source, times, [LOSS + i / 1000 for i in range(RUNS)]
        )
        return int(made)


def small_site(folder: Path, **settings: Any) -> SmallSite:
    values = load_settings(db=f"sqlite:///{folder / 'site.db'}", **settings)
    app = create_app(values)
    key = Ed25519PrivateKey.generate()
    with app.state.speedrun.db.write() as session:
        add_runner(session, "ci-runner", key.public_key())
    token = submitter_token(app.state.speedrun.db, "alice")
    return SmallSite(values, app, TestClient(app), key, token)


def publish(settings: Settings, out: Path, *, incremental: bool = False) -> snapshot.PublishReport:
    """What `speedrun publish --out OUT [--incremental]` does, in-process."""
    out.mkdir(exist_ok=True)
    app = create_app(settings, apply_migrations=False)
    with site.open_site(app, BASE) as live:
        signature = site.signature(settings, BASE)
        if incremental:
            return refresh.refresh(live, out, signature)
        return snapshot.build(live, out, signature)


def files(root: Path) -> dict[str, bytes]:
    """Every file of the snapshot but the publisher's own, by relative path."""
    return {
        p.relative_to(root).as_posix(): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file() and not any(part.startswith(".") for part in p.relative_to(root).parts)
    }


def comparable(path: str, data: bytes) -> Any:
    """A file's content, less what differs between two renderings of the same data: the
    leaderboard answers' `generated_at`, and the compressed copies (checked elsewhere)."""
    if path.endswith((".gz", ".br")):
        return None
    if path.endswith(".json") and "/leaderboard/" in path:
        answer = json.loads(data)
        answer.pop("generated_at", None)
        return answer
    if path.endswith(".parquet"):
        return None  # compared by their readers (tests/support/open_data.py)
    return data


class PageLinks(HTMLParser):
    """The same-site links of a page as a browser sees them, read with the standard
    library's HTML parser (not the publisher's own link finder): href and src attributes,
    and every URL a GET form with hidden fields and selects submits."""

    def __init__(self) -> None:
        super().__init__()
        self.links: list[str] = []
        self._form: tuple[str, list[tuple[str, str]], list[tuple[str, list[str]]]] | None = None
        self._select: tuple[str, list[str]] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        self.links += [a[k] for k in ("href", "src") if k in a]
        if tag == "form" and a.get("method", "get").lower() == "get":
            self._form = (a.get("action", ""), [], [])
        elif self._form and tag == "input" and a.get("type") == "hidden":
            self._form[1].append((a["name"], a.get("value", "")))
        elif self._form and tag == "select":
            self._select = (a["name"], [])
            self._form[2].append(self._select)
        elif self._select is not None and tag == "option":
            self._select[1].append(a.get("value", ""))

    def handle_endtag(self, tag: str) -> None:
        if tag == "select":
            self._select = None
        if tag == "form" and self._form:
            action, hidden, selects = self._form
            for name, values in selects:
                self.links += [f"{action}?{urlencode([*hidden, (name, v)])}" for v in values]
            self._form = None


def page_links(text: str) -> list[str]:
    parser = PageLinks()
    parser.feed(text)
    return parser.links
