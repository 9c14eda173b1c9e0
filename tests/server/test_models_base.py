"""server.models.base: times are stored as UTC and come back aware on every backend (SQLite
drops the zone; it is put back), naive times are taken as UTC, and constraints get stable
names (so Alembic's batch mode can name them on SQLite)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

from sqlalchemy import select

from server.models import Base, User, utcnow


def stored(db, when: datetime) -> datetime:
    with db.write() as session:
        user = User(name=f"u{when.timestamp()}", created_at=when)
        session.add(user)
        session.flush()
        pk = user.id
    with db.reader() as session:
        return session.scalar(select(User.created_at).where(User.id == pk))


def test_times_come_back_aware_and_in_utc(db) -> None:
    paris = datetime(2025, 6, 1, 14, 30, tzinfo=timezone(timedelta(hours=2)))
    back = stored(db, paris)
    assert back == paris and back.tzinfo is not None and back.utcoffset() == timedelta(0)
    assert back.hour == 12


def test_naive_times_are_taken_as_utc(db) -> None:
    back = stored(db, datetime(2025, 1, 2, 3, 4, 5))
    assert back == datetime(2025, 1, 2, 3, 4, 5, tzinfo=UTC)


def test_utcnow_is_aware_and_defaults_use_it(db) -> None:
    now = utcnow()
    assert now.tzinfo is UTC
    with db.write() as session:
        user = User(name="defaulted")
        session.add(user)
    assert user.created_at.tzinfo is not None and abs(user.created_at - now) < timedelta(minutes=1)


def test_constraints_have_conventional_names() -> None:
    users = Base.metadata.tables["users"]
    names = {c.name for c in users.constraints}
    assert "pk_users" in names and "uq_users_name" in names
    fks = {c.name for c in Base.metadata.tables["api_tokens"].foreign_key_constraints}
    assert fks == {"fk_api_tokens_user_id_users"}
