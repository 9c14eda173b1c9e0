"""Compute and machines: each run's machine (the identity statistics group by) and its
compute figures (forward FLOPs per token, training FLOPs, MFU and the peak it is measured
against) copied out of the manifest at ingest; the thinned telemetry series the run page
charts; a re-verification's cause and the machine conditions behind it.

Runs stored before this revision get their machine key here, from their stored manifest
(a few hundred bytes of JSON each, read in batches; the same function ingest uses, so old
and new runs of one machine share a key). They carry no compute block or telemetry: those
columns stay empty for them.

Revision ID: 0011
Revises: 0010
"""

from __future__ import annotations

import json

import sqlalchemy as sa
from alembic import op

from speedrun.machine_id import machine_key

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

BATCH = 500


def _backfill_machine_keys() -> None:
    conn = op.get_bind()
    runs = sa.table(
        "runs",
        sa.column("id", sa.Integer()),
        sa.column("origin", sa.String()),
        sa.column("manifest_json", sa.Text()),
        sa.column("machine_key", sa.String()),
    )
    last = 0
    while True:
        query = (
            sa.select(runs.c.id, runs.c.manifest_json)
            .where(runs.c.id > last, runs.c.origin == "verified")
            .order_by(runs.c.id)
            .limit(BATCH)
        )
        rows = conn.execute(query).all()
        if not rows:
            return
        for run_pk, manifest_json in rows:
            key = machine_key(json.loads(manifest_json))
            conn.execute(runs.update().where(runs.c.id == run_pk).values(machine_key=key))
        last = rows[-1][0]


def upgrade() -> None:
    # Added in place (no batch rebuild): SQLite takes nullable columns as they are.
    op.add_column("runs", sa.Column("machine_key", sa.String(length=24), nullable=True))
    op.add_column("runs", sa.Column("forward_flops_per_token", sa.Double(), nullable=True))
    op.add_column("runs", sa.Column("training_flops", sa.Double(), nullable=True))
    op.add_column("runs", sa.Column("mfu", sa.Double(), nullable=True))
    op.add_column("runs", sa.Column("peak_source", sa.String(length=500), nullable=True))
    op.add_column("run_log_summaries", sa.Column("telemetry_json", sa.Text(), nullable=True))
    op.add_column("verifications", sa.Column("cause", sa.String(length=32), nullable=True))
    op.add_column("verifications", sa.Column("conditions_json", sa.Text(), nullable=True))
    _backfill_machine_keys()


def downgrade() -> None:
    # Plain DROP COLUMN (SQLite has it since 3.35) rather than a batch rebuild: rebuilding
    # `runs` would drop a table that run_log_summaries, jobs and records point at.
    for table, name in (
        ("verifications", "conditions_json"),
        ("verifications", "cause"),
        ("run_log_summaries", "telemetry_json"),
        ("runs", "peak_source"),
        ("runs", "mfu"),
        ("runs", "training_flops"),
        ("runs", "forward_flops_per_token"),
        ("runs", "machine_key"),
    ):
        op.drop_column(table, name)
