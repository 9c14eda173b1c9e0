"""Run log summaries: what the pages show of a run's log, stored once.

`run_log_summaries` holds, per run, the step curve parsed from its log (or why there is
none) and the head and tail of the log text, so a page view neither reads a bundle nor
parses a log. New runs get theirs when they are stored (bundle ingest, history import);
runs stored before this revision get theirs on their first view, once
(`server.services.run_logs`), rather than here: a migration that re-read every bundle
would hold the server's start for as long as that takes.

Revision ID: 0007
Revises: 0006
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "run_log_summaries",
        sa.Column("run_pk", sa.Integer(), nullable=False),
        sa.Column("curve_json", sa.Text(), nullable=True),
        sa.Column("val_curve_json", sa.Text(), nullable=True),
        sa.Column("curve_error", sa.Text(), nullable=True),
        sa.Column("excerpt_json", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["run_pk"], ["runs.id"], name=op.f("fk_run_log_summaries_run_pk_runs")
        ),
        sa.PrimaryKeyConstraint("run_pk", name=op.f("pk_run_log_summaries")),
    )


def downgrade() -> None:
    op.drop_table("run_log_summaries")
