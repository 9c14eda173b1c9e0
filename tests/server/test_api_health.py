"""server.api.health: GET /api/v1/health answers ok and the version, without the database (a
liveness probe must not fail because the database is slow or gone)."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy import event

from speedrun import __version__


def test_health_answers_ok_and_the_version(client: TestClient) -> None:
    answer = client.get("/api/v1/health")
    assert answer.status_code == 200
    assert answer.json() == {"status": "ok", "version": __version__}


def test_health_touches_no_database(app, client: TestClient) -> None:
    statements: list[str] = []
    engine = app.state.speedrun.db.engine
    event.listen(engine, "before_cursor_execute", lambda *a: statements.append(a[2]))
    assert client.get("/api/v1/health").status_code == 200
    assert statements == []
    assert client.get("/api/v1/runners").status_code == 200
    assert statements  # the listener sees queries when there are some


def test_only_get_is_allowed(client: TestClient) -> None:
    assert client.post("/api/v1/health").status_code == 405
