"""Imported history (`server.services.history.documents`) and the schema itself: migrations produce
exactly the tables the models describe, on both databases."""

from __future__ import annotations

from datetime import UTC, datetime

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from srv_bundles import step_log

from server.models import Base
from server.services import catalog
from server.services.history.documents import ImportedRecord, ImportedRun, import_record


def test_migrations_match_the_models(db):
    with db.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    assert diff == []


def _record(i: int, time_ms: float) -> ImportedRecord:
    runs = [
        ImportedRun(
            run_id=f"{i:02d}{j:030d}",
            log=step_log(time_ms + j, 4.0).encode(),
            time_ms=time_ms + j,
            val_loss=4.0,
            claimed_time_ms=time_ms - 5,
            source_path=f"records/{i}/{j}.txt",
        )
        for j in range(2)
    ]
    return ImportedRecord(
        name=f"record {i}",
        description="from the README",
        author="kellerjordan0",
        date=datetime(2024, 10, i + 1, tzinfo=UTC),
        code=f"print({i})\n",
        runs=runs,
    )


def test_imported_records_are_marked_and_chained(client, db):
    track = catalog.track("cpu-smoke")
    with db.write() as s:
        first = import_record(s, track, _record(1, 2000.0)).id
    with db.write() as s:
        second = import_record(s, track, _record(2, 1500.0)).id
    client.app.state.speedrun.cache.invalidate()
    record = client.get(f"/api/v1/records/{second}").json()
    assert record["origin"] == "imported" and record["previous_record_id"] == first
    assert (
        record["evidence"]["imported"] is True
        and record["evidence"]["val_loss_source"] == "self-reported"
    )
    assert record["beat"]["method"] == "imported" and record["submitter"] == "kellerjordan0"
    assert record["established_at"].startswith("2024-10-03")
    run = client.get(record["runs"][0]["url"]).json()
    assert (
        run["claimed_time_ms"] == 1495.0 and run["time_ms"] == 1500.0 and run["official"] is False
    )
    assert run["curve"]["val"][-1]["val_loss"] == 4.0  # the log is kept as a blob of its own
    board = client.get("/api/v1/tracks/cpu-smoke/leaderboard").json()
    assert [(e["record_id"], e["status"]) for e in board["entries"]] == [
        (second, "current"),
        (first, "superseded"),
    ]
