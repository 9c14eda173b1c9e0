"""Imported records: their natural key and the README's claim, as columns.

`import_key` ("<number>@<date>") makes a re-import find the record it wrote before (unique
per track version; NULL for verified records). `claimed_time_ms` / `claimed_steps` hold the
figure the README claims, which an imported track ranks by (time, or steps on the
optimization track), counted in SQL like verified records' mean times.

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("records") as batch:
        batch.add_column(sa.Column("number", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("import_key", sa.String(length=64), nullable=True))
        batch.add_column(sa.Column("claimed_time_ms", sa.Double(), nullable=True))
        batch.add_column(sa.Column("claimed_steps", sa.Integer(), nullable=True))
        batch.create_unique_constraint(
            batch.f("uq_records_track_id"), ["track_id", "track_version", "import_key"]
        )


def downgrade() -> None:
    with op.batch_alter_table("records") as batch:
        batch.drop_constraint(batch.f("uq_records_track_id"), type_="unique")
        batch.drop_column("claimed_steps")
        batch.drop_column("claimed_time_ms")
        batch.drop_column("import_key")
        batch.drop_column("number")
