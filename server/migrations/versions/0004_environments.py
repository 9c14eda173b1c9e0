"""Environments (image digest, runner version) seen per track, for re-verification.

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "environments",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("track_id", sa.String(length=64), nullable=False),
        sa.Column("track_version", sa.Integer(), nullable=False),
        sa.Column("image_digest", sa.Text(), nullable=False),
        sa.Column("runner_version", sa.String(length=64), nullable=False),
        sa.Column("first_seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_environments")),
        sa.UniqueConstraint(
            "track_id",
            "track_version",
            "image_digest",
            "runner_version",
            name=op.f("uq_environments_track_id"),
        ),
    )


def downgrade() -> None:
    op.drop_table("environments")
