"""Imported history (a small checkout through the importer, `server.services.history`) and the schema itself: migrations produce
exactly the tables the models describe, on both databases."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from support.bundles import step_log
from support.history_checkout import Row, import_checkout

from server.models import Base


def test_migrations_match_the_models(db):
    with db.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    assert diff == []


def test_imported_records_are_marked_and_chained(client, db, tmp_path):
    """Two README records, the newer faster: chained, marked imported and self-reported."""
    rows = [
        Row(f"{ms / 60_000:.3f} minutes", f"record {i}", f"10/0{i + 1}/24", step_log(ms, 4.0), who)
        for i, (ms, who) in enumerate(((2000.0, "@kellerjordan0"), (1500.0, "@kellerjordan0")), 1)
    ]
    import_checkout(db, tmp_path / "modded-nanogpt", main=rows)
    client.app.state.speedrun.cache.invalidate()
    board = client.get("/api/v1/tracks/modded-nanogpt-short/leaderboard").json()
    (second, first) = [e["record_id"] for e in board["entries"]]
    assert [e["status"] for e in board["entries"]] == ["current", "superseded"]
    record = client.get(f"/api/v1/records/{second}").json()
    assert record["origin"] == "imported" and record["previous_record_id"] == first
    assert (
        record["evidence"]["imported"] is True
        and record["evidence"]["val_loss_source"] == "self-reported"
    )
    assert record["beat"]["method"] == "imported" and record["submitter"] == "kellerjordan0"
    assert record["established_at"].startswith("2024-10-03")
    run = client.get(record["runs"][0]["url"]).json()
    assert run["claimed_time_ms"] == 1500.0 and run["time_ms"] == 1500.0
    assert run["official"] is False
    assert run["curve"]["val"][-1]["val_loss"] == 4.0  # the log is kept as a blob of its own
