"""The open data's Parquet files: one row per run, record and attempt, read back with pandas
and DuckDB holding the JSON API's rows and figures (records made through jobs from signed
bundles, an unsolicited run, a rule-breaking run, and imported history), each figure with its
evidence level, in row groups of a bounded size, written atomically."""

from __future__ import annotations

import pyarrow.parquet as pq
import pytest
from support.bundles import claim_runs, make_bundle, step_log
from support.history_checkout import Row, import_checkout
from support.open_data import check_open_data, rows

from server.services.opendata import tables


@pytest.fixture
def history(client, db, runner_key, token, tmp_path):
    """Two records on cpu-tiny (the first superseded), an unsolicited run, a failed claim,
    and two imported records."""
    claim_runs(client, runner_key, token, "print('slow')\n", [4000.0, 4001.0, 4002.0])
    claim_runs(client, runner_key, token, "print('fast')\n", [2000.0, 2001.0, 2002.0])
    unsolicited = make_bundle(runner_key, source="print('fast')\n", time_ms=2100.0, seed=9)
    assert client.post("/api/v1/runs", content=unsolicited).status_code == 201
    claim_runs(
        client, runner_key, token, "print('broken')\n", [1500.0], status="failed", val_loss=None
    )
    rows_ = [
        Row("3.0 minutes", "first <b>record</b>", "10/01/24", step_log(180000, 3.27, 8)),
        Row("2.5 minutes", "second", "11/01/24", step_log(150000, 3.275, 8)),
    ]
    import_checkout(db, tmp_path / "modded-nanogpt", main=rows_)
    client.app.state.speedrun.cache.invalidate()
    return client


def test_files_hold_the_apis_rows_and_figures(history, db, tmp_path):
    with db.reader() as session:
        counts = tables.write_all(session, tmp_path / "data")
    read = check_open_data(tmp_path / "data", lambda path: history.get(path).json())
    assert read == counts
    assert (
        counts["records"] == 4 and counts["attempts"] == 5 and counts["runs"] == 3 + 3 + 1 + 1 + 2
    )


def test_every_figure_carries_its_evidence_level(history, db, tmp_path):
    with db.reader() as session:
        tables.write_all(session, tmp_path)
    runs = rows(tmp_path / "runs.parquet", "run_id").values()
    verified = [r for r in runs if r["origin"] == "verified" and r["time_ms"] is not None]
    assert {r["time_evidence"] for r in verified} == {"runner-measured"}
    scored = [r for r in verified if r["val_loss"] is not None]
    assert {r["val_loss_evidence"] for r in scored} == {"independently-evaluated"}
    assert {r["claimed_time_evidence"] for r in verified if r["claimed_time_ms"]} <= {
        "self-reported"
    }
    imported = [r for r in runs if r["origin"] == "imported"]
    assert imported and {r["val_loss_evidence"] for r in imported} == {"imported"}
    failed = [r for r in runs if r["status"] == "failed"]
    assert failed and failed[0]["val_loss_evidence"] is None and not failed[0]["counts"]
    records = rows(tmp_path / "records.parquet", "record_id").values()
    by_origin = {r["origin"]: r for r in records}
    assert by_origin["verified"]["val_loss_evidence"] == "independently-evaluated"
    assert by_origin["verified"]["time_evidence"] == "runner-measured"
    assert by_origin["imported"]["claimed_evidence"] == "imported"
    assert any(r["name"] and "<b>record</b>" in r["name"] for r in records)  # kept as written
    bundles = [r["bundle_path"] for r in runs if r["origin"] == "verified"]
    assert all(p == f"bundles/{r}.tar.gz" for p, r in zip(bundles, [
        r["run_id"] for r in runs if r["origin"] == "verified"], strict=True))  # fmt: skip


def test_row_groups_stay_at_a_batch_and_files_replace_whole(history, db, tmp_path, monkeypatch):
    monkeypatch.setattr(tables, "BATCH_ROWS", 3)
    out = tmp_path / "data"
    out.mkdir()
    target = out / "runs.parquet"
    target.write_bytes(b"an older file")
    with db.reader() as session:
        count = tables.write_table(target, "runs", tables.run_rows(session))
    meta = pq.ParquetFile(target).metadata
    assert meta.num_rows == count == 10 and meta.num_row_groups == 4  # 3 + 3 + 3 + 1
    assert [p.name for p in out.iterdir()] == ["runs.parquet"]  # no temporary left


def test_a_failed_write_leaves_the_old_file(tmp_path):
    target = tmp_path / "runs.parquet"
    target.write_bytes(b"the published file")

    def broken():
        yield {"run_id": "x"}
        raise RuntimeError("the database went away")

    with pytest.raises(RuntimeError):
        tables.write_table(target, "runs", broken())
    assert target.read_bytes() == b"the published file"
    assert [p.name for p in tmp_path.iterdir()] == ["runs.parquet"]
