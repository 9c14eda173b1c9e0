"""A/B jobs: a submission on a track that demands paired runs against the record carries the
record's variant, which the agent runs interleaved with the candidate.

Revision ID: 0009
Revises: 0008
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Added in place (no batch rebuild): SQLite takes a nullable column as it is.
    op.add_column("jobs", sa.Column("baseline_sha256", sa.String(length=64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("jobs") as batch_op:
        batch_op.drop_column("baseline_sha256")
