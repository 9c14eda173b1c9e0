"""Job nonces and run violations: the trust of official figures.

`jobs.nonce` (32 hex) is issued when a job is created and handed only to the agent that
leases it; its runs carry it in their signed manifests, so only a job's own runs count.
Existing jobs get a fresh random nonce each. `runs.violations_json` keeps the rules a run
broke (JSON list), as the server re-checked them at ingest. Runs uploaded outside any job
(`purpose = "claim"` without a job, from verified bundles) become `unsolicited`: they are
shown, never counted toward a record.

Revision ID: 0006
Revises: 0005
"""

from __future__ import annotations

import secrets

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # NOT NULL with a placeholder default, so SQLite adds the column in place: rebuilding
    # `jobs` (batch mode's copy-and-drop) would break the runs' foreign keys to it.
    with op.batch_alter_table("jobs") as batch:
        batch.add_column(
            sa.Column("nonce", sa.String(length=32), nullable=False, server_default="")
        )
    jobs = sa.table("jobs", sa.column("id", sa.Integer()), sa.column("nonce", sa.String(32)))
    conn = op.get_bind()
    for (job_id,) in conn.execute(sa.select(jobs.c.id)).all():
        conn.execute(jobs.update().where(jobs.c.id == job_id).values(nonce=secrets.token_hex(16)))
    if conn.dialect.name != "sqlite":  # the application always sets it
        op.alter_column("jobs", "nonce", server_default=None)
    with op.batch_alter_table("runs") as batch:
        batch.add_column(sa.Column("violations_json", sa.Text(), nullable=True))
    runs = sa.table(
        "runs",
        sa.column("purpose", sa.String(16)),
        sa.column("job_id", sa.Integer()),
        sa.column("origin", sa.String(16)),
    )
    conn.execute(
        runs.update()
        .where(runs.c.purpose == "claim", runs.c.job_id.is_(None), runs.c.origin == "verified")
        .values(purpose="unsolicited")
    )


def downgrade() -> None:
    runs = sa.table("runs", sa.column("purpose", sa.String(16)))
    op.get_bind().execute(
        runs.update().where(runs.c.purpose == "unsolicited").values(purpose="claim")
    )
    with op.batch_alter_table("runs") as batch:
        batch.drop_column("violations_json")
    with op.batch_alter_table("jobs") as batch:
        batch.drop_column("nonce")
