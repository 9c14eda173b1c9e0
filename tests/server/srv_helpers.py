"""Small helpers for the server tests: row counts of every table, and problem-JSON checks."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select

from server.db import Database
from server.models import Base


def row_counts(db: Database) -> dict[str, int]:
    with db.reader() as session:
        return {
            name: session.scalar(select(func.count()).select_from(table)) or 0
            for name, table in Base.metadata.tables.items()
        }


def assert_problem(response: Any, status: int, code: str | None = None) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body: dict[str, Any] = response.json()
    assert set(body) == {"type", "title", "status", "detail", "code"}
    assert body["status"] == status
    if code is not None:
        assert body["code"] == code, body
    return body
