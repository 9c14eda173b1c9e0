"""Runs without a bundle (imported history) keep their log as a blob of its own.

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("runs") as batch:
        batch.add_column(sa.Column("log_sha256", sa.String(length=64), nullable=True))
        batch.create_foreign_key(
            batch.f("fk_runs_log_sha256_blobs"), "blobs", ["log_sha256"], ["sha256"]
        )


def downgrade() -> None:
    with op.batch_alter_table("runs") as batch:
        batch.drop_constraint(batch.f("fk_runs_log_sha256_blobs"), type_="foreignkey")
        batch.drop_column("log_sha256")
