"""Migration 0011 (compute and machines): runs stored before it get their machine key from
their stored manifest, the same key ingest gives new runs; it downgrades cleanly."""

from __future__ import annotations

from alembic import command
from sqlalchemy import text
from support import machines
from support.bundles import make_bundle

from server.db import alembic_config


def _keys(db) -> dict[str, str | None]:
    with db.engine.connect() as conn:
        rows = conn.execute(text("SELECT run_id, machine_key FROM runs")).all()
    return {run_id: key for run_id, key in rows}


def test_old_runs_get_the_machine_key_ingest_gives(client, db, runner_key) -> None:
    for i, host in enumerate(("node-a", "node-b", "node-a")):
        bundle = make_bundle(
            runner_key, seed=i, hardware=machines.hardware(host), compute=machines.compute()
        )
        assert client.post("/api/v1/runs", content=bundle).status_code == 201
    at_ingest = _keys(db)
    assert len(set(at_ingest.values())) == 2 and None not in at_ingest.values()
    cfg = alembic_config(db.url)
    with db.engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, "0010")
    with db.engine.connect() as conn:
        columns = conn.execute(text("SELECT * FROM runs LIMIT 1")).keys()
    assert "machine_key" not in columns and "mfu" not in columns
    with db.engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "head")
    assert _keys(db) == at_ingest
