"""Tests for walking records/ folders, their statistics and README-row matching: the real
fixture checkout, and small checkouts built in tmp_path to exercise each rule."""

from __future__ import annotations

import math
from datetime import date
from pathlib import Path

import pytest
from scipy import stats as sps

from speedrun.errors import UsageError
from speedrun.history import (
    HistoryScan,
    one_sided_p_value,
    parse_statistics_md,
    role_of,
    scan_checkout,
    summarize,
)
from speedrun.logparse import format_step_line

# --- the real fixture checkout --------------------------------------------------------------

FOLDERS = {  # folder -> {file name: (final val loss, final train_time ms)}, read from the logs
    "records/track_1_short/2024-06-06_AdamW": {
        "f66d43d7-e449-4029-8adf-e8537bab49ea.log": (3.275959, None)
    },
    "records/track_1_short/2024-10-10_Muon": {
        "eb5659d0-fb6a-49e5-a311-f1f89412f726.txt": (3.2785, 1339067)
    },
    "records/track_1_short/2024-10-13_llmc": {"main.log": (3.2722, None)},
    "records/track_1_short/2024-11-19_FlexAttention": {
        "8384493d-dba9-4991-b16b-8696953f5e6d.txt": (3.2783, 301825)
    },
    "records/track_1_short/2025-01-04_SoftCap": {
        "31d6c427-f1f7-4d8a-91be-a67b5dcd13fd.txt": (3.2785, 204345)
    },
    "records/track_1_short/2025-01-26_BatchSize": {
        "0bdd5ee9-ac28-4202-bdf1-c906b102b0ec.txt": (3.2774, 175510),
        "c44090cc-1b99-4c95-8624-38fb4b5834f9.txt": (3.2808, 176003),
    },
    "records/track_1_short/2025-07-18_TritonMuon": {"record.txt": (3.2780, 169042)},
    "records/track_1_short/2026-01-10_FusedLinearReLUSquare": {
        "7ea8e73b-3f28-475a-943c-1388dbb593cf.txt": (3.2782, 106355),
        "abc5d9f3-6d47-4e40-8cdd-b7b47089c2f6.txt": (3.2788, 106461),
        "single_gpu_baseline.txt": (3.2777, 831445),
        "single_gpu_run.txt": (3.2796, 812830),
    },
    "records/track_1_short/2026-07-17_FP8DownProjection": {
        "baseline/8d1e24b2-682b-417e-aaae-1aa791cfb78a.txt": (3.2778, 80678),
        "baseline/e1c1d006-064d-409a-ba2c-540102a612f7.txt": (3.2775, 80840),
        "this_pr/11cb620c-daaf-4e85-83fc-258a5eb7ba09.txt": (3.2775, 79532),
        "this_pr/cc4be0b9-46a8-4378-8fc4-523ac0c1f362.txt": (3.2806, 79539),
        "this_pr/df385495-0a65-47ee-9abe-047f0f90729c.txt": (3.2816, 79656),
    },
    "records/track_2_medium/2024-12-31_Target350M": {},
    "records/track_2_medium/2025-01-18": {
        "241dd7a7-3d76-4dce-85a4-7df60387f32a.txt": (2.9166, 1756892),
        "main.log": (2.9282, None),
    },
}
TRACK3_FILE = "records/track_3_optimization/results/1bd8db7a-f3a3-4195-856d-cab7e0816443.txt"


def test_fixture_folders_and_runs(fixture_scan: HistoryScan) -> None:
    assert [f.path for f in fixture_scan.folders] == [*FOLDERS, TRACK3_FILE]
    assert fixture_scan.problems == ()
    for path, files in FOLDERS.items():
        folder = fixture_scan.folder(path)
        finals = {
            r.path.removeprefix(path + "/"): (r.run.final_val_loss, r.run.final_train_time_ms)
            for r in folder.runs
        }
        assert finals == files, path
        assert folder.run_count == len(files)
        assert folder.date == date.fromisoformat(folder.name[:10])


def test_fixture_roles_hardware_and_stats(fixture_scan: HistoryScan) -> None:
    fp8 = fixture_scan.folder("records/track_1_short/2026-07-17_FP8DownProjection")
    assert [r.role for r in fp8.runs] == ["baseline"] * 2 + ["this_pr"] * 3
    assert [r.subfolder for r in fp8.runs] == ["baseline"] * 2 + ["this_pr"] * 3
    this_pr = fp8.stats_by_role["this_pr"]
    assert this_pr.n_runs == 3 and this_pr.val_losses == (3.2775, 3.2806, 3.2816)
    assert this_pr.mean_val_loss == pytest.approx(3.2799)
    assert this_pr.mean_train_time_ms == pytest.approx((79532 + 79539 + 79656) / 3)
    expected_p = sps.ttest_1samp([3.2775, 3.2806, 3.2816], 3.28, alternative="less").pvalue
    assert this_pr.p_value == pytest.approx(expected_p) and not this_pr.significant
    assert fp8.stats is not None and fp8.stats.n_runs == 5
    assert fp8.stats.mean_val_loss == pytest.approx(
        (3.2778 + 3.2775 + 3.2775 + 3.2806 + 3.2816) / 5
    )

    fused = fixture_scan.folder("records/track_1_short/2026-01-10_FusedLinearReLUSquare")
    roles = {r.path.rsplit("/", 1)[1]: (r.role, r.hardware) for r in fused.runs}
    assert roles["single_gpu_baseline.txt"] == ("baseline", "1x NVIDIA H100 80GB HBM3")
    assert roles["single_gpu_run.txt"] == ("record", "1x NVIDIA H100 80GB HBM3")
    assert roles["7ea8e73b-3f28-475a-943c-1388dbb593cf.txt"] == (
        "record",
        "8x NVIDIA H100 80GB HBM3",
    )
    eight = fused.stats_by_setup[("record", "8x NVIDIA H100 80GB HBM3")]
    assert eight.n_runs == 2 and eight.mean_train_time_ms == pytest.approx(106408)

    batch = fixture_scan.folder("records/track_1_short/2025-01-26_BatchSize")
    assert batch.stats is not None and batch.stats.mean_val_loss == pytest.approx(3.2791)
    assert batch.stats.p_value == pytest.approx(
        sps.ttest_1samp([3.2774, 3.2808], 3.28, alternative="less").pvalue
    )
    llmc = fixture_scan.folder("records/track_1_short/2024-10-13_llmc")
    assert llmc.stats is not None and llmc.stats.p_value is None  # one run: undefined
    assert llmc.runs[0].hardware == "unknown"


def test_fixture_targets_come_from_the_readmes(fixture_scan: HistoryScan) -> None:
    medium = fixture_scan.folder("records/track_2_medium/2025-01-18")
    assert medium.target_val_loss == 2.92
    assert medium.stats is not None and medium.stats.target_val_loss == 2.92
    assert fixture_scan.folder(TRACK3_FILE).target_val_loss == 3.28
    assert fixture_scan.folder("records/track_1_short/2025-01-04_SoftCap").target_val_loss == 3.28
    assert fixture_scan.folder("records/track_2_medium/2024-12-31_Target350M").stats is None


def test_fixture_statistics_md(fixture_scan: HistoryScan) -> None:
    fp8 = fixture_scan.folder("records/track_1_short/2026-07-17_FP8DownProjection")
    docs = {d.path.rsplit("/", 2)[1]: d for d in fp8.statistics_docs}
    assert sorted(docs) == ["baseline", "this_pr"]
    pr = docs["this_pr"]
    assert pr.runs == 13 and len(pr.val_losses) == 13 and len(pr.train_times_s) == 13
    assert pr.metric("mean val loss") == 3.2783692308
    assert pr.metric("one-sided p vs 3.28") == 0.0006690604
    assert pr.metric("mean train time") == 79.684923
    assert docs["baseline"].metric("mean val loss") == 3.2782461538
    # the sample ships only some of the 13 logs, but each one it ships is in the summary
    for run in fp8.runs:
        doc = docs[run.role]
        assert run.run.final_val_loss in doc.val_losses
        assert run.run.final_train_time_ms is not None
        assert run.run.final_train_time_ms / 1000 in doc.train_times_s


def test_fixture_track3_entry(fixture_scan: HistoryScan) -> None:
    entry = fixture_scan.folder(TRACK3_FILE)
    assert entry.is_file and entry.run_count == 20 and entry.date is None
    assert [r.run.source for r in entry.runs][:2] == [f"{TRACK3_FILE}#run1", f"{TRACK3_FILE}#run2"]
    assert entry.stats is not None and entry.stats.n_runs == 20
    assert entry.stats.mean_val_loss == pytest.approx(3.2784655)
    assert entry.stats.significant


def test_fixture_matches(fixture_scan: HistoryScan) -> None:
    found = {
        (m.row.track, m.row.number, m.row.is_retiming): (m.how, m.folder.name if m.folder else None)
        for m in fixture_scan.matches
        if m.folder is not None
    }
    assert found == {
        ("main", 1, False): ("file", "2024-10-13_llmc"),
        ("main", 2, False): ("file", "2024-06-06_AdamW"),
        ("main", 4, False): ("file", "2024-10-10_Muon"),
        ("main", 12, False): ("file", "2024-11-19_FlexAttention"),
        ("main", 18, False): ("file", "2025-01-04_SoftCap"),
        ("main", 21, False): ("file", "2025-01-26_BatchSize"),
        ("main", 27, False): ("file", "2025-07-18_TritonMuon"),
        ("main", 59, False): ("file-missing", "2026-01-10_FusedLinearReLUSquare"),
        ("main", 89, False): ("file", "2026-07-17_FP8DownProjection"),
        ("medium", 1, False): ("file", "2025-01-18"),
        ("medium", 2, False): ("file", "2025-01-18"),
        ("optimization", 12, False): ("file", "1bd8db7a-f3a3-4195-856d-cab7e0816443.txt"),
    }
    assert len(fixture_scan.matches) == 91 + 18 + 46
    by_key = {(m.row.track, m.row.number): m for m in fixture_scan.matches}
    assert [r.run.final_val_loss for r in by_key[("medium", 1)].runs] == [2.9282]  # main.log only
    assert by_key[("main", 3)].how == "no-log"
    assert by_key[("main", 5)].how == "missing"
    opt = by_key[("optimization", 12)]
    claimed = opt.at_claimed_steps(3.28)  # README: 3325 steps, 3.2790 (n=20)
    assert claimed is not None and claimed.n_runs == 20
    assert round(claimed.mean_val_loss or 0, 4) == 3.2790
    measured = by_key[("main", 89)].measured(3.28)
    assert measured is not None and measured.val_losses == (3.2775,)


# --- synthetic checkouts --------------------------------------------------------------------

SEP = "=" * 100


def make_log(final_loss: float, final_ms: float, *, gpus: int = 8, code: str = "pass") -> str:
    smi = "".join(
        f"|   {i}  NVIDIA H100 80GB HBM3          On  |   00000000:{10 + i}:00.0 Off |\n"
        for i in range(gpus)
    )
    steps = [
        format_step_line(0, 2, val_loss=10.8, train_time_ms=0, step_avg_ms=math.nan),
        format_step_line(1, 2, train_time_ms=final_ms / 2, step_avg_ms=final_ms / 2),
        format_step_line(2, 2, train_time_ms=final_ms - 5, step_avg_ms=final_ms / 2),
        format_step_line(2, 2, val_loss=final_loss, train_time_ms=final_ms, step_avg_ms=1.0),
    ]
    header = "Running Python 3.12.7\nRunning PyTorch 2.7.0+cu126 compiled for CUDA 12.6\n"
    return f"{code}\n\n{SEP}\n{header}{smi}{SEP}\n" + "\n".join(steps) + "\n"


README = """# Test checkout

## World record history

> *Train to ≤3.28 validation loss.*

| # | Record time | Description | Date | Log | Contributors |
| - | - | - | - | - | - |
1 | 2 minutes | exact file | 01/01/25 | [log](records/track_1_short/2025-01-01_Alpha/a.txt) | @a
2 | 1.9 minutes | renamed folder | 02/02/25 | [log](records/track_1_short/2025-02-02_Beta) | @b
3 | 1.8 minutes | this_pr sub-folder | 03/03/25 | [log](records/track_1_short/2025-03-03_Gamma/this_pr) | @c
4 | 1.7 minutes | moved file | 04/04/25 | [log](records/track_1_short/old-name/0000-uuid.txt) | @d
5 | 1.6 minutes | no log, by date | 05/05/25 | none | @e
6 | 1.5 minutes | gone | 06/06/25 | [log](records/track_1_short/2025-06-06_Gone/x.txt) | @f

## Speedrun track 2: GPT-2 Medium

The target loss for this track is lowered from 3.28 to 2.92.

| # | Record time | Description | Date | Log | Contributors |
| - | - | - | - | - | - |
1 | 25 minutes | medium | 01/01/25 | [log](records/track_2_medium/2025-01-01_M) | @m
"""


@pytest.fixture()
def checkout(tmp_path: Path) -> Path:
    t1 = tmp_path / "records" / "track_1_short"
    files = {
        t1 / "2025-01-01_Alpha" / "a.txt": make_log(3.2770, 100_000),
        t1 / "2025-01-01_Alpha" / "b.txt": make_log(3.2790, 101_000),
        t1 / "2025-01-01_Alpha" / "c.txt": make_log(3.2780, 99_000, gpus=1),
        t1 / "2025-02-02_BetaRenamed" / "r.txt": make_log(3.2785, 98_000),
        t1 / "2025-03-03_Gamma" / "this_pr" / "p1.txt": make_log(3.2771, 90_000),
        t1 / "2025-03-03_Gamma" / "this_pr" / "p2.txt": make_log(3.2775, 91_000),
        t1 / "2025-03-03_Gamma" / "baseline" / "b1.txt": make_log(3.2779, 95_000),
        t1 / "2025-04-04_Delta" / "0000-uuid.txt": make_log(3.2777, 97_000),
        t1 / "2025-05-05_Epsilon" / "e.txt": make_log(3.2781, 96_000),
        tmp_path / "records" / "track_2_medium" / "2025-01-01_M" / "m.txt": make_log(2.91, 1e6),
    }
    for path, text in files.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    (t1 / "2025-01-01_Alpha" / "broken.txt").write_bytes(b"\x00\x01junk" * 100)
    (t1 / "2025-01-01_Alpha" / "notes.txt").write_text("just some notes\n")
    (t1 / "2025-03-03_Gamma" / "this_pr" / "statistics.md").write_text(
        "- runs: `2`\n\n| metric | value |\n| --- | ---: |\n| mean val loss | 3.2773 |\n\n"
        "Losses:\n\n```python\n[3.2771, 3.2775]\n```\n\nTimes:\n\n```python\n[90.0, 91.0]\n```\n"
    )
    (tmp_path / "README.md").write_text(README)
    return tmp_path


def test_synthetic_walk_reports_bad_files_and_keeps_going(checkout: Path) -> None:
    scan = scan_checkout(checkout)
    assert [(p.path.rsplit("/", 1)[1], p.reason.split(" ")[0]) for p in scan.problems] == [
        ("broken.txt", "binary"),
        ("notes.txt", "no"),
    ]
    alpha = scan.folder("records/track_1_short/2025-01-01_Alpha")
    assert alpha.final_val_losses == (3.277, 3.279, 3.278)
    assert alpha.final_train_times_ms == (100_000, 101_000, 99_000)
    assert alpha.stats is not None and alpha.stats.mean_val_loss == pytest.approx(3.278)
    assert set(alpha.stats_by_setup) == {
        ("record", "8x NVIDIA H100 80GB HBM3"),
        ("record", "1x NVIDIA H100 80GB HBM3"),
    }


def test_synthetic_roles_and_statistics_md(checkout: Path) -> None:
    gamma = scan_checkout(checkout).folder("records/track_1_short/2025-03-03_Gamma")
    assert {r.path.rsplit("/", 1)[1]: r.role for r in gamma.runs} == {
        "b1.txt": "baseline",
        "p1.txt": "this_pr",
        "p2.txt": "this_pr",
    }
    assert gamma.stats_by_role["this_pr"].val_losses == (3.2771, 3.2775)
    (doc,) = gamma.statistics_docs
    assert (doc.runs, doc.metric("mean val loss"), doc.val_losses) == (2, 3.2773, (3.2771, 3.2775))
    assert doc.train_times_s == (90.0, 91.0)


def test_synthetic_matching_rules(checkout: Path) -> None:
    scan = scan_checkout(checkout)
    how = {
        m.row.number: (m.how, m.folder.name if m.folder else None) for m in scan.matches_for("main")
    }
    assert how == {
        1: ("file", "2025-01-01_Alpha"),
        2: ("renamed", "2025-02-02_BetaRenamed"),
        3: ("folder", "2025-03-03_Gamma"),
        4: ("moved", "2025-04-04_Delta"),
        5: ("row-date", "2025-05-05_Epsilon"),
        6: ("missing", None),
    }
    gamma = next(m for m in scan.matches if m.row.number == 3 and m.row.track == "main")
    assert {r.role for r in gamma.runs} == {"this_pr"}  # only the linked sub-folder
    assert scan.folder("records/track_2_medium/2025-01-01_M").target_val_loss == 2.92
    (medium,) = scan.matches_for("medium")
    stats = medium.measured(2.92)
    assert medium.how == "folder" and stats is not None and stats.val_losses == (2.91,)


def test_scan_of_a_folder_without_readme_or_records(tmp_path: Path) -> None:
    scan = scan_checkout(tmp_path)
    assert scan.tracks == () and scan.folders == ()
    assert {p.path for p in scan.problems} == {"README.md", "records"}


def test_scan_of_a_missing_path_is_a_usage_error(tmp_path: Path) -> None:
    with pytest.raises(UsageError):
        scan_checkout(tmp_path / "nope")


# --- small pieces ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "role"),
    [
        ("a.txt", "record"),
        ("runs/a.txt", "record"),
        ("this_pr/a.txt", "this_pr"),
        ("this_pr_v3/a.txt", "this_pr"),
        ("baseline/a.txt", "baseline"),
        ("single_gpu_baseline.txt", "baseline"),
        ("this_pr.txt", "record"),
    ],
)
def test_role_of(path: str, role: str) -> None:
    assert role_of(path) == role


def test_p_value_edge_cases() -> None:
    assert one_sided_p_value([3.27], 3.28) is None
    assert one_sided_p_value([3.27, 3.27], 3.28) == 0.0
    assert one_sided_p_value([3.29, 3.29], 3.28) == 1.0
    stats = summarize([3.27, None, 3.275], [1000.0, 2000.0, None], target_val_loss=3.28)
    assert (stats.n_runs, stats.val_losses, stats.train_times_ms) == (3, (3.27, 3.275), (1e3, 2e3))
    assert stats.std_val_loss == pytest.approx(math.sqrt(2 * 0.0025**2))


def test_statistics_md_without_lists() -> None:
    doc = parse_statistics_md("# Nothing here\n", path="x/statistics.md")
    assert (doc.runs, doc.metrics, doc.val_losses, doc.metric("mean val loss")) == (
        None,
        {},
        (),
        None,
    )
