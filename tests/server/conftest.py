"""Fixtures for the server tests: every API test runs on SQLite and on a real PostgreSQL
server (started once per session by `pg.postgres_server`), each test in its own database,
cloned from a template that already holds the migrated schema."""

from __future__ import annotations

import itertools
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, text
from support import postgres as pg

from server.app import create_app
from server.config import Settings, load_settings
from server.db import Database, migrate
from server.services.runners import add_runner
from server.services.tokens import create_token

_counter = itertools.count()


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("sqlite-template") / "template.db"
    db = Database(f"sqlite:///{path}")
    migrate(db)
    db.dispose()
    return path


@pytest.fixture(scope="session")
def pg_admin_url() -> Iterator[str]:
    if pg.pg_bin() is None:
        pytest.skip("PostgreSQL is not installed (run scripts/system-deps.sh)")
    with pg.postgres_server() as url:
        engine = create_engine(f"{url}/postgres", isolation_level="AUTOCOMMIT")
        with engine.connect() as conn:
            conn.execute(text("CREATE DATABASE speedrun_template"))
        engine.dispose()
        db = Database(f"{url}/speedrun_template")
        migrate(db)
        db.dispose()
        yield url


def _pg_admin(admin_url: str, sql: str) -> None:
    engine = create_engine(f"{admin_url}/postgres", isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(text(sql))
    engine.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest, tmp_path: Path, sqlite_template: Path) -> Iterator[str]:
    """A fresh, migrated database for this test: SQLite file or PostgreSQL database."""
    if request.param == "sqlite":
        path = tmp_path / "speedrun.db"
        shutil.copyfile(sqlite_template, path)
        yield f"sqlite:///{path}"
        return
    admin: str = request.getfixturevalue("pg_admin_url")
    name = f"t{next(_counter)}"
    _pg_admin(admin, f"CREATE DATABASE {name} TEMPLATE speedrun_template")
    yield f"{admin}/{name}"
    _pg_admin(admin, f"DROP DATABASE {name} WITH (FORCE)")


@pytest.fixture
def settings(db_url: str) -> Settings:
    return load_settings(db=db_url, extra_record_backends=[], leaderboard_cache_ttl_s=60.0)


@pytest.fixture
def app(settings: Settings) -> Iterator[Any]:
    application = create_app(settings)
    yield application
    application.state.speedrun.db.dispose()


@pytest.fixture
def client(app: Any) -> Iterator[TestClient]:
    with TestClient(app) as c:
        yield c


@pytest.fixture
def db(app: Any) -> Database:
    database: Database = app.state.speedrun.db
    return database


@pytest.fixture
def runner_key(db: Database) -> Ed25519PrivateKey:
    """A signing key registered as the active runner `ci-runner`."""
    key = Ed25519PrivateKey.generate()
    with db.write() as session:
        add_runner(session, "ci-runner", key.public_key())
    return key


@pytest.fixture
def token(db: Database) -> str:
    """An API token of the submitter `alice`."""
    with db.write() as session:
        return create_token(session, "alice")[1]
