"""server.schemas.history: what an imported record's answer says about its README row (the
claim as written, the contributors, the logs and how they were found, its run groups), parsed
back into `ImportedPublic`; self-reported, never mixed with verified figures."""

from __future__ import annotations

from pathlib import Path

from support.bundles import step_log
from support.history_checkout import Row, import_checkout

from server.schemas.history import ImportedPublic


def test_an_imported_records_answer_parses_into_its_shape(client, db, tmp_path: Path) -> None:
    rows = [
        Row(
            "3.000 minutes",
            "first [write-up](https://x.org/a)",
            "10/01/24",
            step_log(180_000.0, 3.27),
            "@alice @bob",
        )
    ]
    import_checkout(db, tmp_path / "checkout", main=rows)
    client.app.state.speedrun.cache.invalidate()
    [entry] = client.get("/api/v1/tracks/modded-nanogpt-short/leaderboard").json()["entries"]
    record = client.get(f"/api/v1/records/{entry['record_id']}").json()
    imported = ImportedPublic.model_validate(record["imported"])
    assert imported.badge == "imported, self-reported" and imported.number == 1
    assert imported.claimed == "3.000 minutes" and imported.claimed_time_ms == 180_000.0
    assert imported.contributors == ["@alice", "@bob"]
    assert [link.url for link in imported.links] == ["https://x.org/a"]
    assert imported.logs == "logged" and imported.match == "file"
    assert imported.logged_time_ms == 180_000.0
    [group] = imported.run_groups
    assert group.purpose == "claim" and group.n_runs == 1 and group.val_loss_mean == 3.27
    assert record["evidence"]["val_loss_source"] == "self-reported"
