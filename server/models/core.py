"""Content-addressed blobs, runner keys and the nonces of their signed requests, users and
their API tokens."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, LargeBinary, String
from sqlalchemy.orm import Mapped, mapped_column

from server.models.base import Base, utcnow


class Blob(Base):
    """Bytes stored once by sha256: signed bundles and variant sources.

    In the database rather than a directory so that an ingest stores everything or nothing
    in one transaction, on SQLite and PostgreSQL alike, and a backup is one database.
    """

    __tablename__ = "blobs"
    sha256: Mapped[str] = mapped_column(String(64), primary_key=True)
    size_bytes: Mapped[int]
    media_type: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    data: Mapped[bytes] = mapped_column(LargeBinary, deferred=True)


class Runner(Base):
    """A runner's Ed25519 public key; only active runners' bundles and requests are accepted."""

    __tablename__ = "runners"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    key_id: Mapped[str] = mapped_column(String(16), unique=True)
    public_key: Mapped[str] = mapped_column(String(100))  # base64 of the raw 32 bytes
    active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    revoked_at: Mapped[datetime | None]


class User(Base):
    __tablename__ = "users"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class ApiToken(Base):
    """A submitter's token, kept only as its sha256 (tokens are random, so no slow hash)."""

    __tablename__ = "api_tokens"
    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    token_sha256: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    revoked_at: Mapped[datetime | None]


class AgentNonce(Base):
    """A nonce a runner's signed request used, kept until the request's timestamp falls out
    of the skew window (after that the timestamp alone refuses it). The primary key makes a
    second use fail on every worker and after restarts: one database, one answer."""

    __tablename__ = "agent_nonces"
    __table_args__ = (Index("ix_agent_nonces_expires_at", "expires_at"),)
    key_id: Mapped[str] = mapped_column(String(16), primary_key=True)
    nonce: Mapped[str] = mapped_column(String(64), primary_key=True)
    expires_at: Mapped[datetime]
