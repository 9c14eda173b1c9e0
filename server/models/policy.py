"""The environments records have been run in, for the re-verification policy."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from server.models.base import Base, utcnow


class Environment(Base):
    """An (image digest, runner version) seen on a track version, from a run or an agent.

    A new one on a track means every record of that track is re-run in it.
    """

    __tablename__ = "environments"
    __table_args__ = (
        UniqueConstraint("track_id", "track_version", "image_digest", "runner_version"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    track_id: Mapped[str] = mapped_column(String(64))
    track_version: Mapped[int]
    image_digest: Mapped[str] = mapped_column(Text)  # "" for runs without an image (local)
    runner_version: Mapped[str] = mapped_column(String(64))
    first_seen_at: Mapped[datetime] = mapped_column(default=utcnow)
