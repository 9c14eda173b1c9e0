"""Fixtures for the whole-loop tests: a database URL per test, SQLite or a real PostgreSQL
server (one per session, from tests/support/postgres.py); servers migrate it on start."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from support import postgres

_names = itertools.count()


@pytest.fixture(scope="session")
def pg_server() -> Iterator[str]:
    if postgres.pg_bin() is None:
        pytest.skip("PostgreSQL is not installed (run scripts/system-deps.sh)")
    with postgres.postgres_server() as url:
        yield url


def _admin(url: str, sql: str) -> None:
    engine = create_engine(f"{url}/postgres", isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(text(sql))
    engine.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def loop_db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield str(tmp_path / "speedrun.db")
        return
    url: str = request.getfixturevalue("pg_server")
    name = f"loop{next(_names)}"
    _admin(url, f"CREATE DATABASE {name}")
    yield f"{url}/{name}"
    _admin(url, f"DROP DATABASE {name} WITH (FORCE)")
