"""Agent request nonces in the database: replay protection across workers and restarts.

`agent_nonces` keeps each (runner key id, nonce) a signed agent request used until its
timestamp leaves the skew window; the primary key lets only one of two workers that see
the same request at once accept it. Expired rows are purged as requests come in.

Revision ID: 0008
Revises: 0007
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "agent_nonces",
        sa.Column("key_id", sa.String(length=16), nullable=False),
        sa.Column("nonce", sa.String(length=64), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("key_id", "nonce", name=op.f("pk_agent_nonces")),
    )
    op.create_index("ix_agent_nonces_expires_at", "agent_nonces", ["expires_at"])


def downgrade() -> None:
    op.drop_index("ix_agent_nonces_expires_at", table_name="agent_nonces")
    op.drop_table("agent_nonces")
