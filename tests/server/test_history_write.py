"""`speedrun records import`: the real modded-nanogpt fixture checkout written into SQLite and
PostgreSQL, read back through the API, re-imported, imported over an older checkout, and
imported with a corrupt log. Checkouts are parsed once per module (parsing is the slow part);
each test writes into its own database.

The fixtures are a sample of the public repository at <repo>/../shared/fixtures/modded-nanogpt:
its full README (91 main-track rows, 18 medium, 46 optimization) and 20 of its logs."""

from __future__ import annotations

import hashlib
import json
import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from server.db import Database
from server.models import Attempt, Base, Blob, Record, Run
from server.services.history import write
from server.services.history.plan import ImportPlan, plan_import
from server.services.history.write import ImportSummary, write_plan
from speedrun.history import RecordRow, parse_readme

FIXTURES = Path(__file__).resolve().parents[2] / ".." / "shared" / "fixtures" / "modded-nanogpt"
SHORT, MEDIUM = "modded-nanogpt-short", "modded-nanogpt-medium"
OPTIM = "modded-nanogpt-optimization"
# every fixture log: file (under records/) -> [(purpose, final train_time ms, val loss)], read
# from the files by hand (val loss on the optimization track: at the claimed step, 3325)
SHORT_RUNS = {
    "track_1_short/2024-06-06_AdamW/f66d43d7-e449-4029-8adf-e8537bab49ea.log": [
        ("claim", None, 3.275959)
    ],
    "track_1_short/2024-10-10_Muon/eb5659d0-fb6a-49e5-a311-f1f89412f726.txt": [
        ("claim", 1339067.0, 3.2785)
    ],
    "track_1_short/2024-10-13_llmc/main.log": [("claim", None, 3.2722)],
    "track_1_short/2024-11-19_FlexAttention/8384493d-dba9-4991-b16b-8696953f5e6d.txt": [
        ("claim", 301825.0, 3.2783)
    ],
    "track_1_short/2025-01-04_SoftCap/31d6c427-f1f7-4d8a-91be-a67b5dcd13fd.txt": [
        ("claim", 204345.0, 3.2785)
    ],
    "track_1_short/2025-01-26_BatchSize/0bdd5ee9-ac28-4202-bdf1-c906b102b0ec.txt": [
        ("claim", 175510.0, 3.2774)
    ],
    "track_1_short/2025-01-26_BatchSize/c44090cc-1b99-4c95-8624-38fb4b5834f9.txt": [
        ("claim", 176003.0, 3.2808)
    ],
    "track_1_short/2025-07-18_TritonMuon/record.txt": [("claim", 169042.0, 3.2780)],
    "track_1_short/2026-01-10_FusedLinearReLUSquare/7ea8e73b-3f28-475a-943c-1388dbb593cf.txt": [
        ("claim", 106355.0, 3.2782)
    ],
    "track_1_short/2026-01-10_FusedLinearReLUSquare/abc5d9f3-6d47-4e40-8cdd-b7b47089c2f6.txt": [
        ("claim", 106461.0, 3.2788)
    ],
    "track_1_short/2026-01-10_FusedLinearReLUSquare/single_gpu_baseline.txt": [
        ("baseline", 831445.0, 3.2777)
    ],
    "track_1_short/2026-01-10_FusedLinearReLUSquare/single_gpu_run.txt": [
        ("other-hardware", 812830.0, 3.2796)
    ],
    "track_1_short/2026-07-17_FP8DownProjection/baseline/8d1e24b2-682b-417e-aaae-1aa791cfb78a.txt": [
        ("baseline", 80678.0, 3.2778)
    ],
    "track_1_short/2026-07-17_FP8DownProjection/baseline/e1c1d006-064d-409a-ba2c-540102a612f7.txt": [
        ("baseline", 80840.0, 3.2775)
    ],
    "track_1_short/2026-07-17_FP8DownProjection/this_pr/11cb620c-daaf-4e85-83fc-258a5eb7ba09.txt": [
        ("claim", 79532.0, 3.2775)
    ],
    "track_1_short/2026-07-17_FP8DownProjection/this_pr/cc4be0b9-46a8-4378-8fc4-523ac0c1f362.txt": [
        ("claim", 79539.0, 3.2806)
    ],
    "track_1_short/2026-07-17_FP8DownProjection/this_pr/df385495-0a65-47ee-9abe-047f0f90729c.txt": [
        ("claim", 79656.0, 3.2816)
    ],
}
MEDIUM_RUNS = {
    "track_2_medium/2025-01-18/main.log": [("claim", None, 2.9282)],
    "track_2_medium/2025-01-18/241dd7a7-3d76-4dce-85a4-7df60387f32a.txt": [
        ("claim", 1756892.0, 2.9166)
    ],
}
OPTIM_FILE = "track_3_optimization/results/1bd8db7a-f3a3-4195-856d-cab7e0816443.txt"
TOTAL_RECORDS, TOTAL_RUNS = 89 + 18 + 46, 17 + 2 + 20


# --- checkouts and plans, built once per module ---------------------------------------------


@pytest.fixture(scope="module")
def fixture_root() -> Path:
    if not (FIXTURES / "README.md").is_file():
        pytest.skip(f"modded-nanogpt fixtures not found at {FIXTURES.resolve()}")
    return FIXTURES


@pytest.fixture(scope="module")
def full_plan(fixture_root: Path) -> ImportPlan:
    return plan_import(fixture_root)


@pytest.fixture(scope="module")
def corrupt_plan(fixture_root: Path, tmp_path_factory: pytest.TempPathFactory) -> ImportPlan:
    root = tmp_path_factory.mktemp("corrupt") / "modded-nanogpt"
    shutil.copytree(fixture_root, root)
    log = root / "records" / next(iter(f for f in SHORT_RUNS if "c44090cc" in f))
    log.write_bytes(log.read_bytes()[:50_000])  # cut mid-line, as an interrupted copy would
    (root / "records/track_1_short/2025-07-18_TritonMuon/record.txt").write_bytes(
        b"\x00\x01binary\x00" * 100
    )
    return plan_import(root)


@pytest.fixture(scope="module")
def older_plan(fixture_root: Path, tmp_path_factory: pytest.TempPathFactory) -> ImportPlan:
    """The checkout as it was before record #60: main-table rows 1-59 only, no #89 folder,
    and #59's single-GPU re-run not yet committed."""
    root = tmp_path_factory.mktemp("older") / "modded-nanogpt"
    shutil.copytree(fixture_root, root)
    shutil.rmtree(root / "records/track_1_short/2026-07-17_FP8DownProjection")
    (root / "records/track_1_short/2026-01-10_FusedLinearReLUSquare/single_gpu_run.txt").unlink()
    (root / "README.md").write_text(_main_rows_up_to(fixture_root / "README.md", 59))
    return plan_import(root)


def _main_rows_up_to(readme: Path, last: int) -> str:
    lines, section = [], ""
    for line in readme.read_text().splitlines(keepends=True):
        if line.startswith("#"):
            section = line
        row = re.match(r"^\|?\s*(\d+)\s*\|", line)
        if not (row and "World record history" in section and int(row.group(1)) > last):
            lines.append(line)
    return "".join(lines)


@pytest.fixture
def database(db_url: str) -> Iterator[Database]:
    db = Database(db_url)
    yield db
    db.dispose()


def snapshot(db: Database) -> dict[str, dict[tuple[Any, ...], tuple[Any, ...]]]:
    """Every row of every table, by primary key."""
    out = {}
    with db.engine.connect() as conn:
        for table in Base.metadata.sorted_tables:
            pk = [c.name for c in table.primary_key.columns]
            rows = conn.execute(table.select()).mappings()
            out[table.name] = {tuple(r[c] for c in pk): tuple(r.values()) for r in rows}
    return out


def readme_rows(root: Path) -> dict[str, list[RecordRow]]:
    tables = parse_readme((root / "README.md").read_text())
    opt_readme = root / "records/track_3_optimization/README.md"
    tables += parse_readme(opt_readme.read_text(), base_dir="records/track_3_optimization")
    return {t.track: list(t.rows) for t in tables}


def runs_by_file(db: Database, track_id: str) -> dict[str, list[Run]]:
    with db.reader() as session:
        query = select(Run).where(Run.track_id == track_id).order_by(Run.id)
        found: dict[str, list[Run]] = {}
        for run in session.scalars(query):
            path = json.loads(run.manifest_json)["imported_from"].removeprefix("records/")
            found.setdefault(path, []).append(run)
        return found


def _counts(summary: ImportSummary, track_id: str) -> tuple[int, ...]:
    t = next(t for t in summary.tracks if t.track == f"{track_id}@v1")
    return (
        t.records_added,
        t.records_updated,
        t.records_unchanged,
        t.runs_added,
        t.runs_unchanged,
    )


# --- the fixture checkout -------------------------------------------------------------------


def test_every_fixture_log_is_stored_with_its_figures(database, full_plan, fixture_root):
    summary = write_plan(database, full_plan)
    assert summary.problems == [] and summary.unlinked_folders == []
    logs = {
        p.relative_to(fixture_root / "records").as_posix()
        for p in (fixture_root / "records").rglob("*")
        if p.suffix in (".txt", ".log")
    }
    short, medium, optim = (runs_by_file(database, t) for t in (SHORT, MEDIUM, OPTIM))
    assert set(short) | set(medium) | set(optim) == logs  # every log parsed and stored
    for expected, stored in ((SHORT_RUNS, short), (MEDIUM_RUNS, medium)):
        for path, figures in expected.items():
            runs = stored[path]
            assert [(r.purpose, r.time_ms, r.val_loss) for r in runs] == figures, path
            assert all(r.origin == "imported" and not r.official for r in runs)
            assert all(r.val_loss_source == "self-reported" for r in runs)
    assert len(optim[OPTIM_FILE]) == 20
    first = optim[OPTIM_FILE][0]
    m = json.loads(first.manifest_json)
    assert (first.time_ms, first.val_loss, m["final_val_loss"]) == (496855.0, 3.27931, 3.27874)
    assert (m["run_index"], m["runs_in_file"], m["format"]) == (1, 20, "track3")
    assert sum(len(v) for v in (*short.values(), *medium.values(), *optim.values())) == TOTAL_RUNS

    # the hardware of each run: 8x H100 is the track's class; single-GPU runs say so
    single = short["track_1_short/2026-01-10_FusedLinearReLUSquare/single_gpu_run.txt"][0]
    assert (single.hardware_class, single.accelerator_count) == ("1xNVIDIA H100 80GB HBM3", 1)
    muon = short["track_1_short/2024-10-10_Muon/eb5659d0-fb6a-49e5-a311-f1f89412f726.txt"][0]
    assert (muon.hardware_class, muon.accelerator_count) == ("8xH100-80GB", 8)
    assert muon.claimed_time_ms == 22.3 * 60_000  # README figure beside the logged 1339067 ms
    m = json.loads(muon.manifest_json)
    assert m["versions"]["torch"] == "2.4.1+cu121" and m["gpu_model"] == "NVIDIA H100 80GB HBM3"
    assert (m["total_steps"], m["val_points"], m["train_points"], m["format"]) == (
        6200,
        51,
        6200,
        "2024",
    )

    # embedded code: stored once, addressed by its sha256, the exact text the log opens with
    fp8 = short[
        "track_1_short/2026-07-17_FP8DownProjection/this_pr/df385495-0a65-47ee-9abe-047f0f90729c.txt"
    ][0]
    m = json.loads(fp8.manifest_json)
    assert m["peak_memory_allocated_mib"] == 30220 and m["peak_memory_reserved_mib"] == 38912
    with database.reader() as session:
        code = session.get_one(Blob, m["code_sha256"]).data
        log = session.get_one(Blob, fp8.log_sha256).data
        codes = {json.loads(r.manifest_json)["code_sha256"] for r in session.scalars(select(Run))}
        blobs = set(session.scalars(select(Blob.sha256)))
    assert hashlib.sha256(code).hexdigest() == m["code_sha256"] and log.startswith(code)
    assert log == (fixture_root / "records" / fp8_path(fp8)).read_bytes()
    assert codes - {None} <= blobs


def fp8_path(run: Run) -> str:
    return json.loads(run.manifest_json)["imported_from"].removeprefix("records/")


def test_leaderboard_ranks_the_readme_history(client, db, full_plan, fixture_root):
    write_plan(db, full_plan)
    client.app.state.speedrun.cache.invalidate()
    rows = readme_rows(fixture_root)
    assert (len(rows["main"]), len(rows["medium"]), len(rows["optimization"])) == (91, 18, 46)
    for track_id, name in ((SHORT, "main"), (MEDIUM, "medium"), (OPTIM, "optimization")):
        board = client.get(f"/api/v1/tracks/{track_id}/leaderboard?limit=200").json()
        _check_board(board["entries"], rows[name], ranked_by_steps=name == "optimization")
    short = client.get(f"/api/v1/tracks/{SHORT}/leaderboard").json()["entries"]
    latest, first = short[0], short[-1]
    assert (latest["imported"]["number"], latest["status"], latest["rank"]) == (89, "current", 1)
    assert first["imported"]["number"] == 1 and first["imported"]["claimed"] == "45 minutes"
    assert first["description"] == "llm.c baseline" and first["rank"] == 89

    # record 89: claimed 1.23 minutes beside the re-timed 79.6 s its logs show; 8x H100
    imp = latest["imported"]
    assert imp["claimed_time_ms"] == 73800.0 and imp["logged_time_ms"] == pytest.approx(79575.667)
    assert latest["hardware"] == {"hardware_class": "8xH100-80GB", "accelerator_count": 8}
    assert latest["evidence"]["imported"] and latest["evidence"]["official"] is False
    assert imp["badge"] == "imported, self-reported" and latest["beat"]["method"] == "imported"
    record = client.get(latest["url"]).json()
    assert record["rank"] == 1 and record["val_loss"]["n"] == 3
    purposes = [r["purpose"] for r in record["runs"]]
    assert sorted(purposes) == ["baseline", "baseline", "claim", "claim", "claim"]
    groups = {g["purpose"]: g for g in imp["run_groups"]}
    assert groups["baseline"]["time_ms_mean"] == pytest.approx((80678 + 80840) / 2)
    assert groups["claim"]["val_loss_mean"] == pytest.approx(3.2799)
    run = client.get(next(r for r in record["runs"] if r["purpose"] == "claim")["url"]).json()
    assert run["curve"]["total_steps"] == 1390 and len(run["curve"]["train"]) == 1390
    assert run["curve"]["val"][-1]["val_loss"] == run["val_loss"]

    # record 21 with its two re-timings; rows without logs are marked so
    r21 = next(e for e in short if e["imported"]["number"] == 21)["imported"]
    assert [t["claimed"] for t in r21["retimings"]] == ["2.997 minutes", "3.014 minutes"]
    assert r21["claimed_time_ms"] == pytest.approx(2.933 * 60_000) and r21["logs"] == "logged"
    r3 = next(e for e in short if e["imported"]["number"] == 3)
    assert r3["imported"]["logs"] == "no logs" and r3["time_ms"] is None
    assert "links no log (none)" in r3["imported"]["logs_detail"]
    r86 = next(e for e in short if e["imported"]["number"] == 86)["imported"]
    assert r86["logs"] == "no logs" and r86["pr_url"].endswith("/pull/317")

    # optimization #12: 20 runs of one file, each curve its own run; loss at 3325 steps
    optim = client.get(f"/api/v1/tracks/{OPTIM}/leaderboard").json()["entries"]
    r12 = next(e for e in optim if e["imported"]["number"] == 12)
    assert r12["imported"]["is_record"] is False and r12["status"] == "superseded"
    assert r12["val_loss"]["n"] == 20 and round(r12["val_loss"]["mean"], 4) == 3.2790
    runs = client.get(r12["url"]).json()["runs"]
    fifth = client.get(runs[4]["url"]).json()
    assert fifth["manifest"]["run_index"] == 5 and fifth["curve"]["val"][-1]["val_loss"] == 3.27765


def _check_board(entries: list[dict[str, Any]], rows: list[RecordRow], *, ranked_by_steps: bool):
    """One entry per record number; its claim is the first row with that number, the rows
    repeating the number are its re-timings; ranked by the claimed figure."""
    by_number: dict[int, list[RecordRow]] = {}
    for row in rows:
        by_number.setdefault(row.number, []).append(row)
    assert len(entries) == len(by_number)
    assert sum(1 + len(e["imported"]["retimings"]) for e in entries) == len(rows)
    for e in entries:
        imp = e["imported"]
        first, *retimes = by_number[imp["number"]]
        assert imp["claimed"] == first.time_text and imp["claimed_time_ms"] == first.time_ms
        assert imp["claimed_steps"] == first.steps and imp["description"] == first.description
        assert imp["date"] == (first.date.isoformat() if first.date else None)
        assert imp["contributors"] == list(first.contributors) and imp["pr_url"] == first.pr_url
        assert [link["path"] for link in imp["log_links"]] == list(first.log_paths)
        assert [t["claimed"] for t in imp["retimings"]] == [r.time_text for r in retimes]
        assert e["origin"] == "imported" and imp["badge"] == "imported, self-reported"
    key = "claimed_steps" if ranked_by_steps else "claimed_time_ms"
    figures = [e["imported"][key] for e in entries]
    assert figures == sorted(figures) and [e["rank"] for e in entries] == list(
        range(1, len(entries) + 1)
    )
    assert sum(e["status"] == "current" for e in entries) == 1


# --- repeatable -----------------------------------------------------------------------------


def test_reimport_changes_nothing(database, full_plan):
    first = write_plan(database, full_plan)
    assert first.total("records_added") == TOTAL_RECORDS
    assert first.total("runs_added") == TOTAL_RUNS
    before = snapshot(database)
    again = write_plan(database, full_plan)
    assert snapshot(database) == before
    assert not again.changed and again.blobs_added == 0
    assert again.total("records_unchanged") == TOTAL_RECORDS
    assert again.total("runs_unchanged") == TOTAL_RUNS


def test_newer_checkout_adds_only_what_is_new(database, older_plan, full_plan):
    old = write_plan(database, older_plan)
    assert _counts(old, SHORT) == (59, 0, 0, 11, 0)
    before = snapshot(database)
    new = write_plan(database, full_plan)
    # 30 new records (#60-#89), #89's 5 runs and #59's single-GPU re-run; #59 is updated:
    # superseded by #60, and one more run; medium and optimization are as they were
    assert _counts(new, SHORT) == (30, 1, 58, 6, 11)
    assert _counts(new, MEDIUM) == (0, 0, 18, 0, 2)
    assert _counts(new, OPTIM) == (0, 0, 46, 0, 20)
    after = snapshot(database)
    with database.reader() as session:
        r59 = session.scalars(
            select(Record).where(Record.track_id == SHORT, Record.number == 59)
        ).one()
        changed_rows = {
            ("records", (r59.id,)),
            ("attempts", (r59.attempt_id,)),
            ("track_states", (SHORT, 1)),
        }
        assert r59.superseded_at is not None
        assert session.get_one(Attempt, r59.attempt_id).origin == "imported"
    for table, rows in before.items():
        for pk, row in rows.items():
            assert pk in after[table], (table, pk)  # nothing removed
            if (table, pk) not in changed_rows:
                assert after[table][pk] == row, (table, pk)  # nothing else touched
    added = {t: len(after[t]) - len(before[t]) for t in after}
    assert (added["records"], added["runs"], added["attempts"]) == (30, 6, 30)
    assert write_plan(database, full_plan).changed is False
    # the older checkout again: what it lacks stays, #59 stays superseded; nothing changes
    stale = write_plan(database, older_plan)
    assert not stale.changed and _counts(stale, SHORT) == (0, 0, 59, 0, 11)
    assert any("30 records no longer in the README (kept)" in line for line in stale.lines())
    assert snapshot(database) == after


# --- robust ---------------------------------------------------------------------------------


def test_corrupt_logs_are_reported_and_skipped(database, corrupt_plan):
    summary = write_plan(database, corrupt_plan)
    problems = {p.path.rsplit("/", 1)[1]: p.reason for p in summary.problems}
    assert set(problems) == {"c44090cc-1b99-4c95-8624-38fb4b5834f9.txt", "record.txt"}
    assert "truncated mid-line" in problems["c44090cc-1b99-4c95-8624-38fb4b5834f9.txt"]
    assert "binary" in problems["record.txt"]
    assert any("problems: 2 (skipped)" in line for line in summary.lines())
    # the rest imported: every record, every other log (#21 keeps its one readable log)
    assert summary.total("records_added") == TOTAL_RECORDS
    assert summary.total("runs_added") == TOTAL_RUNS - 2
    short = runs_by_file(database, SHORT)
    assert "track_1_short/2025-07-18_TritonMuon/record.txt" not in short
    batch = "track_1_short/2025-01-26_BatchSize/0bdd5ee9-ac28-4202-bdf1-c906b102b0ec.txt"
    assert [r.time_ms for r in short[batch]] == [175510.0]
    with database.reader() as session:
        r27 = session.scalars(select(Record).where(Record.track_id == SHORT, Record.number == 27))
        claim = json.loads(r27.one().decision_json)["imported"]
    assert claim["logs"] == "no logs" and "could be parsed" in claim["logs_detail"]


def test_a_failed_import_writes_nothing(database, full_plan, monkeypatch):
    before = snapshot(database)
    calls = []
    original = write._Writer._runs

    def failing(self: Any, plan: Any, attempt_id: int, counts: Any) -> int:
        calls.append(plan.key)
        if len(calls) == 120:
            raise RuntimeError("disk full")
        return original(self, plan, attempt_id, counts)

    monkeypatch.setattr(write._Writer, "_runs", failing)
    with pytest.raises(RuntimeError, match="disk full"):
        write_plan(database, full_plan)
    assert snapshot(database) == before


def test_h200_and_single_gpu_runs_keep_their_hardware(client, db, fixture_root, tmp_path):
    """A record timed on 8x H200 (no H100 run at all) is shown as such; a 1x H100 re-run in
    the same folder stays beside it as other hardware."""
    root = tmp_path / "modded-nanogpt"
    folder = root / "records/track_1_short/2026-08-01_H200"
    folder.mkdir(parents=True)
    source = fixture_root / "records/track_1_short/2026-07-17_FP8DownProjection/this_pr"
    for log in sorted(source.glob("*.txt"))[:2]:
        text = log.read_text().replace("NVIDIA H100 80GB HBM3", "NVIDIA H200")
        (folder / log.name).write_text(text)
    single = fixture_root / "records/track_1_short/2026-01-10_FusedLinearReLUSquare"
    shutil.copy(single / "single_gpu_run.txt", folder / "single_gpu_run.txt")
    (root / "README.md").write_text(
        "## World record history\n\n| # | Record time | Description | Date | Log | Contributors |\n"
        "| - | - | - | - | - | - |\n"
        "1 | 1.33 minutes | On H200 | 08/01/26 | [log](records/track_1_short/2026-08-01_H200) | @a\n"
    )
    write_plan(db, plan_import(root))
    client.app.state.speedrun.cache.invalidate()
    entry = client.get(f"/api/v1/tracks/{SHORT}/leaderboard").json()["entries"][0]
    assert entry["hardware"] == {"hardware_class": "8xNVIDIA H200", "accelerator_count": 8}
    runs = client.get(entry["url"]).json()["runs"]
    assert [(r["purpose"], r["hardware_class"], r["accelerator_count"]) for r in runs] == [
        ("claim", "8xNVIDIA H200", 8),
        ("claim", "8xNVIDIA H200", 8),
        ("other-hardware", "1xNVIDIA H100 80GB HBM3", 1),
    ]
    assert entry["time_ms"]["n"] == 2 and entry["submitter"] == "a"
