"""server.app: `create_app(settings)` builds one application: migrations applied on start
(unless told not to), the JSON API under /api/v1, the pages at /, static files, problem JSON
for API errors and security headers on every answer; the write rate limit and the snapshot
publisher only when the settings ask for them. Nothing happens at import."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import inspect

from server.app import create_app, snapshot_publisher, write_buckets
from server.config import load_settings


def test_a_new_database_is_migrated_and_both_sides_are_served(tmp_path: Path) -> None:
    settings = load_settings(db=f"sqlite:///{tmp_path}/new.db")
    app = create_app(settings)
    assert "runs" in inspect(app.state.speedrun.db.engine).get_table_names()
    with TestClient(app) as client:
        api = client.get("/api/v1/tracks")
        page = client.get("/")
        css = client.get("/static/site.css")
        missing = client.get("/api/v1/nothing-here")
    assert api.status_code == 200 and api.headers["content-type"].startswith("application/json")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert css.status_code == 200 and css.headers["content-type"].startswith("text/css")
    assert missing.status_code == 404
    assert missing.headers["content-type"].startswith("application/problem+json")
    for answer in (api, page, missing):
        assert "content-security-policy" in answer.headers
        assert answer.headers["x-content-type-options"] == "nosniff"


def test_without_migrations_an_empty_database_stays_empty(tmp_path: Path) -> None:
    app = create_app(load_settings(db=f"sqlite:///{tmp_path}/empty.db"), apply_migrations=False)
    assert inspect(app.state.speedrun.db.engine).get_table_names() == []
    app.state.speedrun.db.dispose()


def test_the_rate_limit_and_the_publisher_only_when_asked(tmp_path: Path) -> None:
    off = load_settings(db="sqlite://", rate_limit_writes_per_s=0)
    assert write_buckets(off) is None
    on = load_settings(db="sqlite://", rate_limit_writes_per_s=5, rate_limit_burst=10)
    assert write_buckets(on) is not None
    assert snapshot_publisher(off) is None  # no publish_dir


def test_the_openapi_document_lists_the_api(client: TestClient) -> None:
    doc = client.get("/api/v1/openapi.json").json()
    paths = set(doc["paths"])
    for path in (
        "/api/v1/health",
        "/api/v1/tracks",
        "/api/v1/runs",
        "/api/v1/submissions",
        "/api/v1/runners",
    ):
        assert path in paths
    assert not any(p.startswith("/static") for p in paths)


@pytest.mark.parametrize("path", ["/docs"])
def test_the_api_docs_page(client: TestClient, path: str) -> None:
    assert client.get(path).status_code == 200
