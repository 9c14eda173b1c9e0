"""Human names: a submission carries the name its submitter gave it ("Muon improvements",
as the speedrun's README rows name records); the attempt it makes or joins takes that name
when it has none of its own yet, and records and pages show the attempt's name.

Revision ID: 0010
Revises: 0009
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Added in place (no batch rebuild): SQLite takes a nullable column as it is.
    op.add_column("submissions", sa.Column("name", sa.String(length=120), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("submissions") as batch_op:
        batch_op.drop_column("name")
