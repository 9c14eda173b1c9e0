"""Tests for speedrun.logparse: small hand-written logs of each era (tests/speedrun/logs/),
malformed inputs, the canonical line writer, and every real log in the shared fixtures."""

from __future__ import annotations

import hashlib
import math
from pathlib import Path

import pytest

from speedrun import logparse
from speedrun.errors import LogParseError
from speedrun.logparse import ParsedRun, StepPoint, format_step_line, parse_log, parse_log_file

LOGS = Path(__file__).resolve().parent / "logs"
FIXTURES = Path(__file__).resolve().parents[2] / ".." / "shared" / "fixtures" / "modded-nanogpt"
RECORDS = FIXTURES / "records"
needs_fixtures = pytest.mark.skipif(
    not FIXTURES.is_dir(), reason=f"shared modded-nanogpt fixtures not found at {FIXTURES}"
)


def only_run(path: Path) -> ParsedRun:
    runs = parse_log_file(path)
    assert len(runs) == 1, [r.source for r in runs]
    return runs[0]


# --- synthetic logs, one per era ------------------------------------------------------------


def test_llmc_log_reads_tel_as_val_and_trl_as_train() -> None:
    run = only_run(LOGS / "llmc.log")
    assert run.format == "llmc"
    assert [p.step for p in run.val_points] == [0, 4, 5]
    assert run.val_points[0] == StepPoint(0, None, val_loss=10.95)
    assert [p.train_loss for p in run.train_points] == [10.948, 10.9012, 10.8123, 10.7001, 10.5555]
    assert run.final_val_loss == 9.8765
    assert run.final_train_time_ms is None and run.total_steps is None
    assert run.code is None and run.versions == {} and run.gpu_count is None


def test_2024_log_with_leading_separator_and_grace_period() -> None:
    run = only_run(LOGS / "era2024.txt")
    assert run.format == "2024"
    assert run.code == (
        "import sys\nwith open(sys.argv[0]) as f:\n"
        '    code = f.read()  # a tiny stand-in for a 2024 train_gpt.py\nprint("training")\n'
    )
    assert run.code_sha256 == hashlib.sha256(run.code.encode()).hexdigest()
    assert run.versions == {
        "torch": "2.4.1+cu121",
        "cuda": "12.1",
        "driver": "535.129.03",
        "driver_cuda": "12.2",
    }
    assert (run.gpu_model, run.gpu_count) == ("NVIDIA H100 80GB HBM3", 2)
    # the clock restarts after the 10 untimed steps; the step_avg of those is nan -> None
    times = {p.step: p.train_time_ms for p in run.train_points}
    assert times[10] == 62600 and times[11] == 200
    assert run.train_points[0].step_avg_ms is None
    assert (run.final_val_loss, run.final_train_time_ms) == (6.35, 802)
    assert run.completed and run.total_steps == 14
    assert run.peak_memory_allocated_mib is None


def test_2025_log_with_warmup_lines_before_step_zero() -> None:
    run = only_run(LOGS / "era2025.txt")
    assert run.format == "2025"
    assert run.code is not None and run.code.endswith("print0 = print\n")
    assert run.versions["python"] == "3.12.7"
    assert run.versions["torch"] == "2.10.0+cu128"
    assert run.versions["triton"] == "3.5.0"
    assert (run.gpu_model, run.gpu_count) == ("NVIDIA H200", 8)
    assert [p.step for p in run.warmup_points] == [1, 2, 19]
    assert [p.step for p in run.val_points] == [0, 10, 20]
    assert len(run.train_points) == 20
    assert all(p.train_loss is None for p in run.train_points)  # 2025 lines carry no loss
    assert (run.final_val_loss, run.final_train_time_ms) == (3.279, 1020)
    assert (run.peak_memory_allocated_mib, run.peak_memory_reserved_mib) == (30000, 40000)


def test_track3_file_holds_several_runs_timed_in_seconds() -> None:
    runs = parse_log_file(LOGS / "track3.txt")
    assert [r.format for r in runs] == ["track3"] * 3
    assert [r.source.rsplit("#", 1)[1] for r in runs] == ["run1", "run2", "run3"]
    first = runs[0]
    assert first.val_points[0].train_time_ms == 1.0  # "0.001s"
    assert (first.final_val_loss, first.final_train_time_ms) == (3.275, 7512.0)
    assert first.val_points[1].val_loss == 4.5  # five decimals
    assert (first.gpu_model, first.gpu_count) == ("NVIDIA H100 80GB HBM3", 8)
    # one header for all runs: the later runs share the code and versions
    assert {r.code_sha256 for r in runs} == {first.code_sha256} and first.code is not None
    assert runs[2].versions == first.versions == {"torch": "2.11.0+cu128", "cuda": "12.8"}
    assert [r.completed for r in runs] == [True, True, False]  # the third run stopped early
    assert runs[2].final_val_loss == 4.52


def test_concatenated_logs_keep_each_header() -> None:
    first, second = parse_log_file(LOGS / "concatenated.txt")
    assert first.code == 'print("first variant")\n'
    assert second.code == 'print("second variant")\n'
    assert first.code_sha256 != second.code_sha256
    assert (first.gpu_count, second.gpu_count) == (8, 1)
    assert (first.final_train_time_ms, second.final_train_time_ms) == (250, 1810)
    assert (first.peak_memory_allocated_mib, second.peak_memory_allocated_mib) == (20000, 21000)


def test_harness_variant_on_cpu() -> None:
    run = only_run(LOGS / "harness_cpu.txt")
    assert run.format == "harness"
    assert run.gpu_model is None and run.gpu_count is None
    assert run.versions == {"python": "3.11.7", "torch": "2.5.1+cpu"}  # "CUDA None" is no CUDA
    assert (run.final_val_loss, run.final_train_time_ms) == (6.9, 3100)


def test_untidy_lines_are_tolerated_and_reported() -> None:
    run = only_run(LOGS / "untidy.txt")
    assert [p.step for p in run.train_points] == [1, 2, 4, 5]  # step 3 is garbled
    assert run.train_points[0] == StepPoint(1, 6, None, 8.5, 100.0, 100.0)  # lr: ignored
    assert run.train_points[1].train_loss == 8.0  # fields out of order
    assert run.train_points[3].train_time_ms == 500  # no unit: milliseconds
    assert len(run.warnings) == 1 and "train_loss:garbage" in run.warnings[0]
    assert run.val_points[1].val_loss is None  # val_loss:nan
    assert run.final_val_loss == 7.0


def test_windows_line_endings() -> None:
    text = (LOGS / "era2025.txt").read_text().replace("\n", "\r\n")
    run = parse_log(text)[0]
    assert (run.final_val_loss, run.final_train_time_ms, run.gpu_count) == (3.279, 1020, 8)


def test_source_names_runs() -> None:
    text = (LOGS / "track3.txt").read_text()
    assert [r.source for r in parse_log(text)] == ["<log>#run1", "<log>#run2", "<log>#run3"]
    assert parse_log((LOGS / "llmc.log").read_text(), source="x.log")[0].source == "x.log"


# --- malformed inputs -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("empty.txt", "empty log"),
        ("header_only.txt", "no step lines: the log stops after its header"),
        ("truncated.txt", "truncated mid-line at line 5"),
        ("truncated_value.txt", "truncated mid-line at line 2"),
    ],
)
def test_malformed_logs_raise_with_reason(name: str, reason: str) -> None:
    with pytest.raises(LogParseError) as info:
        parse_log_file(LOGS / name)
    assert reason in info.value.reason
    assert info.value.source == str(LOGS / name)


def test_binary_junk_raises(tmp_path: Path) -> None:
    junk = tmp_path / "junk.bin"
    junk.write_bytes(bytes(range(256)) * 64)
    with pytest.raises(LogParseError, match="binary data"):
        parse_log_file(junk)


def test_text_without_step_lines_raises() -> None:
    with pytest.raises(LogParseError, match="no step lines found"):
        parse_log("hello\nworld\n", source="notes.txt")


def test_invalid_utf8_is_replaced_not_fatal(tmp_path: Path) -> None:
    path = tmp_path / "latin1.txt"
    path.write_bytes(b"# caf\xe9\n" + (LOGS / "era2025.txt").read_bytes())
    assert parse_log_file(path)[0].final_val_loss == 3.279


# --- the canonical line ---------------------------------------------------------------------


def test_format_step_line_matches_the_speedrun() -> None:
    line = format_step_line(10, 100, val_loss=4.12345, train_time_ms=950.4, step_avg_ms=95.04)
    assert line == "step:10/100 val_loss:4.1235 train_time:950ms step_avg:95.04ms"
    line = format_step_line(1, 100, train_loss=7.0, train_time_ms=60, step_avg_ms=math.nan)
    assert line == "step:1/100 train_loss:7.0000 train_time:60ms step_avg:nanms"
    assert format_step_line(2, 9, train_time_ms=1, step_avg_ms=0.5).endswith("step_avg:0.50ms")
    with pytest.raises(ValueError):
        format_step_line(-1, 9, train_time_ms=1, step_avg_ms=1)


def test_format_step_line_round_trips_through_parse_log() -> None:
    lines = [
        format_step_line(0, 3, val_loss=10.8, train_time_ms=0, step_avg_ms=math.nan),
        *(
            format_step_line(s, 3, train_loss=9 - s, train_time_ms=s * 50, step_avg_ms=50)
            for s in (1, 2, 3)
        ),
        format_step_line(3, 3, val_loss=3.2795, train_time_ms=160, step_avg_ms=53.33),
    ]
    run = parse_log("\n".join(lines) + "\n")[0]
    assert run.format == "2025"
    assert run.val_points[-1] == StepPoint(3, 3, 3.2795, None, 160.0, 53.33)
    assert [p.train_loss for p in run.train_points] == [8.0, 7.0, 6.0]


# --- every real log of the shared fixtures --------------------------------------------------

FIXTURE_LOGS = sorted(
    p.relative_to(RECORDS).as_posix()
    for p in (RECORDS.rglob("*") if RECORDS.is_dir() else [])
    if p.suffix in (".txt", ".log")
)


@needs_fixtures
def test_fixture_folder_holds_logs() -> None:
    assert len(FIXTURE_LOGS) == 20


@needs_fixtures
@pytest.mark.parametrize("rel", FIXTURE_LOGS or ["<no fixtures>"])
def test_every_fixture_log_parses(rel: str) -> None:
    runs = parse_log_file(RECORDS / rel)
    assert runs
    for run in runs:
        assert run.format in ("llmc", "2024", "2025", "track3")
        assert run.final_val_loss is not None and 2.5 < run.final_val_loss < 3.3
        assert not run.warnings
        steps = [p.step for p in run.val_points + run.train_points]
        assert steps and min(steps) == 0


# (file, format, final val loss, final train_time ms, val points, train points, GPUs)
SPOT_CHECKS = [
    ("track_1_short/2024-06-06_AdamW/f66d43d7-e449-4029-8adf-e8537bab49ea.log",
     "llmc", 3.275959, None, 76, 9536, None),
    ("track_1_short/2024-10-13_llmc/main.log", "llmc", 3.2722, None, 80, 19560, None),
    ("track_1_short/2024-10-10_Muon/eb5659d0-fb6a-49e5-a311-f1f89412f726.txt",
     "2024", 3.2785, 1339067, 51, 6200, 8),
    ("track_1_short/2024-11-19_FlexAttention/8384493d-dba9-4991-b16b-8696953f5e6d.txt",
     "2024", 3.2783, 301825, 16, 1875, 8),
    ("track_1_short/2025-01-04_SoftCap/31d6c427-f1f7-4d8a-91be-a67b5dcd13fd.txt",
     "2024", 3.2785, 204345, 13, 1390, 8),
    ("track_1_short/2025-01-26_BatchSize/0bdd5ee9-ac28-4202-bdf1-c906b102b0ec.txt",
     "2024", 3.2774, 175510, 16, 1770, 8),
    ("track_1_short/2025-07-18_TritonMuon/record.txt", "2025", 3.2780, 169042, 15, 1750, 8),
    ("track_1_short/2026-01-10_FusedLinearReLUSquare/single_gpu_run.txt",
     "2025", 3.2796, 812830, 9, 1775, 1),
    ("track_1_short/2026-07-17_FP8DownProjection/this_pr/11cb620c-daaf-4e85-83fc-258a5eb7ba09.txt",
     "2025", 3.2775, 79532, 7, 1390, 8),
    ("track_2_medium/2025-01-18/241dd7a7-3d76-4dce-85a4-7df60387f32a.txt",
     "2024", 2.9166, 1756892, 61, 7500, 8),
    ("track_2_medium/2025-01-18/main.log", "llmc", 2.9282, None, 241, 0, None),
]  # fmt: skip


@needs_fixtures
@pytest.mark.parametrize(("rel", "fmt", "loss", "time_ms", "n_val", "n_train", "gpus"), SPOT_CHECKS)
def test_fixture_spot_checks(
    rel: str, fmt: str, loss: float, time_ms: float | None, n_val: int, n_train: int, gpus: int
) -> None:
    run = only_run(RECORDS / rel)
    assert (run.format, run.final_val_loss, run.final_train_time_ms) == (fmt, loss, time_ms)
    assert (len(run.val_points), len(run.train_points), run.gpu_count) == (n_val, n_train, gpus)
    if gpus:
        assert run.gpu_model == "NVIDIA H100 80GB HBM3"


@needs_fixtures
def test_fixture_headers_and_memory() -> None:
    muon = only_run(
        RECORDS / "track_1_short/2024-10-10_Muon/eb5659d0-fb6a-49e5-a311-f1f89412f726.txt"
    )
    assert muon.versions["torch"] == "2.4.1+cu121" and muon.versions["cuda"] == "12.1"
    assert muon.code is not None and muon.code.startswith("import os\nimport sys\n")
    assert muon.code.endswith("dist.destroy_process_group()\n")
    times = {p.step: p.train_time_ms for p in muon.train_points}
    assert (times[10], times[11]) == (77676, 214)  # the 2024 grace period
    softcap = only_run(
        RECORDS / "track_1_short/2025-01-04_SoftCap/31d6c427-f1f7-4d8a-91be-a67b5dcd13fd.txt"
    )
    assert softcap.peak_memory_allocated_mib == 31563 and softcap.peak_memory_reserved_mib is None
    triton = only_run(RECORDS / "track_1_short/2025-07-18_TritonMuon/record.txt")
    assert triton.versions["triton"] == "3.4.0" and triton.versions["python"] == "3.10.12"
    assert (triton.peak_memory_allocated_mib, triton.peak_memory_reserved_mib) == (34460, 48914)


@needs_fixtures
def test_fixture_same_code_same_sha() -> None:
    folder = RECORDS / "track_1_short/2026-01-10_FusedLinearReLUSquare"
    shas = {p.name: only_run(p).code_sha256 for p in folder.glob("*.txt")}
    assert shas["single_gpu_run.txt"] == shas["7ea8e73b-3f28-475a-943c-1388dbb593cf.txt"]
    assert shas["single_gpu_baseline.txt"] != shas["single_gpu_run.txt"]


@needs_fixtures
def test_fixture_track3_runs() -> None:
    runs = parse_log_file(
        RECORDS / "track_3_optimization/results/1bd8db7a-f3a3-4195-856d-cab7e0816443.txt"
    )
    assert len(runs) == 20
    assert all(r.format == "track3" and r.completed and r.total_steps == 3350 for r in runs)
    assert (runs[0].final_val_loss, runs[0].final_train_time_ms) == (3.27874, 496855.0)
    assert (runs[-1].final_val_loss, runs[-1].final_train_time_ms) == (3.27839, 492485.0)
    at_3325 = [p.val_loss for r in runs for p in r.val_points if p.step == 3325]
    assert len(at_3325) == 20 and round(sum(at_3325) / 20, 4) == 3.2790  # README: 3.2790 (n=20)


def test_step_lines_quoted_inside_the_code_are_not_steps() -> None:
    code = '"""Example output:\nstep:0/9 val_loss:1.0000 train_time:0ms step_avg:nanms\n"""\n'
    text = code + "\n" + "=" * 100 + "\n" + (LOGS / "era2025.txt").read_text().split("=" * 100)[-1]
    (run,) = parse_log(text)
    assert run.code == code
    assert run.val_points[0].total_steps == 20 and run.final_val_loss == 3.279


def test_garbled_llmc_line_is_skipped() -> None:
    (run,) = parse_log("s:0 tel:10.0\ns:1 trl:oops lr:0.1\ns:2 trl:9.0\ns:2 tel:8.5\n")
    assert [p.step for p in run.train_points] == [2] and len(run.warnings) == 1


@needs_fixtures
def test_fixture_logs_do_not_depend_on_the_line_cut(monkeypatch: pytest.MonkeyPatch) -> None:
    # real lines are far shorter than MAX_LINE_CHARS: reading them whole changes nothing
    cut = {rel: parse_log_file(RECORDS / rel) for rel in FIXTURE_LOGS}
    monkeypatch.setattr(logparse, "MAX_LINE_CHARS", 10**9)
    assert {rel: parse_log_file(RECORDS / rel) for rel in FIXTURE_LOGS} == cut
