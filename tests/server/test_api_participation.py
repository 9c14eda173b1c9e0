"""GET /api/v1/take-part: the "take part" page's JSON twin, naming this server by its public
URL when one is set, else as it was reached."""

from __future__ import annotations

from pathlib import Path

from fastapi.testclient import TestClient

from server.app import create_app
from server.config import load_settings


def test_the_twin_names_the_server(tmp_path: Path) -> None:
    for public, expected in (
        (None, "http://testserver"),
        ("https://lb.example.org/", "https://lb.example.org"),
    ):
        settings = load_settings(db=f"sqlite:///{tmp_path / 'p.db'}", public_url=public)
        app = create_app(settings)
        with TestClient(app) as client:
            answer = client.get("/api/v1/take-part")
            assert answer.status_code == 200
            body = answer.json()
            assert body["page_url"] == "/take-part"
            assert f"--server {expected} " in body["submit"][0]["command"]
            assert body["tracks"][0]["rules"][0]["label"] == "data"
            assert answer.headers["cache-control"] == "public, no-cache" and answer.headers["etag"]
        app.state.speedrun.db.dispose()
