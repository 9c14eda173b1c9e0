"""server.db: engines, sessions and migrations. Migrations reach the newest revision and are
idempotent; a write transaction commits on success and rolls back on any error; SQLite gets
WAL, foreign keys and writers that take the lock up front (`BEGIN IMMEDIATE`), so a second
writer waits instead of failing, while readers never block."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest
from alembic.script import ScriptDirectory
from sqlalchemy import func, select, text
from sqlalchemy.exc import IntegrityError

from server.db import Database, alembic_config, migrate
from server.models import ApiToken, User


def test_migrations_reach_head_and_run_again_harmlessly(tmp_path: Path) -> None:
    db = Database(f"sqlite:///{tmp_path}/deep/folder/speedrun.db")  # folders are made
    migrate(db)
    migrate(db)
    head = ScriptDirectory.from_config(alembic_config(db.url)).get_current_head()
    with db.reader() as session:
        assert session.scalar(text("SELECT version_num FROM alembic_version")) == head
    db.dispose()


def test_alembic_urls_keep_percent_signs() -> None:
    cfg = alembic_config("postgresql://u:p%40ss@h/db")
    assert cfg.get_main_option("sqlalchemy.url") == "postgresql://u:p%40ss@h/db"


def test_a_write_commits_or_rolls_back_as_a_whole(db: Database) -> None:
    with db.write() as session:
        session.add(User(name="bob"))
    with pytest.raises(RuntimeError), db.write() as session:
        session.add(User(name="carol"))
        session.flush()
        raise RuntimeError("half-way")
    with db.reader() as session:
        names = set(session.scalars(select(User.name)))
    assert "bob" in names and "carol" not in names


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_sqlite_enforces_foreign_keys_and_uses_wal(db: Database) -> None:
    with db.reader() as session:
        assert session.scalar(text("PRAGMA journal_mode")) == "wal"
        assert session.scalar(text("PRAGMA foreign_keys")) == 1
    with pytest.raises(IntegrityError), db.write() as session:
        session.add(ApiToken(user_id=999_999, token_sha256="ab" * 32))
        session.flush()


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_a_second_sqlite_writer_waits_and_readers_do_not(db: Database) -> None:
    order: list[str] = []
    holding = threading.Event()

    def first_writer() -> None:
        with db.write() as session:
            session.add(User(name="first"))
            session.flush()
            holding.set()
            time.sleep(0.3)
            order.append("first commits")

    thread = threading.Thread(target=first_writer)
    thread.start()
    holding.wait(5)
    with db.reader() as session:  # not blocked by the writer
        session.scalar(select(func.count()).select_from(User))
        order.append("read")
    with db.write() as session:  # takes the lock once the first writer is done
        session.add(User(name="second"))
        session.flush()  # the transaction begins (and waits for the lock) here
        order.append("second writes")
    thread.join()
    assert order == ["read", "first commits", "second writes"]
