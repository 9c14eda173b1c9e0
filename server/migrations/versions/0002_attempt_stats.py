"""Cache each attempt's statistics on its row (written on ingest, read by the leaderboard).

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("attempts") as batch:
        batch.add_column(sa.Column("stats_json", sa.Text(), nullable=True))
        batch.add_column(sa.Column("time_ms_mean", sa.Double(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("attempts") as batch:
        batch.drop_column("time_ms_mean")
        batch.drop_column("stats_json")
