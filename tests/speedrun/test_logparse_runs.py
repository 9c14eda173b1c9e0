"""speedrun.logparse.runs: a `ParsedRun` built from its step lines, header and peak-memory
line (final loss and time, completion), and the era its log was written in, told from the
lines themselves: llm.c, track 3 (seconds), 2024 (untimed first steps), harness or 2025."""

from __future__ import annotations

import pytest

from speedrun.logparse.header import Header, find_peak
from speedrun.logparse.runs import ParsedRun, build_run
from speedrun.logparse.steps import STEP_RE, StepLine, parse_step_match
from speedrun.logparse.text import split_lines


def steps(*lines: str) -> list[StepLine]:
    out = []
    for i, line in enumerate(lines):
        m = STEP_RE.match(line)
        assert m is not None
        parsed = parse_step_match(m, i, 0)
        assert parsed is not None, line
        out.append(parsed)
    return out


MODERN = (
    "step:0/4 val_loss:5.5 train_time:0ms step_avg:nanms",
    "step:2/4 train_loss:4.1 train_time:200ms step_avg:100.00ms",
    "step:4/4 val_loss:3.9 train_time:400ms step_avg:100.00ms",
)


def run(*lines: str, header: Header | None = None, warnings: tuple[str, ...] = ()) -> ParsedRun:
    return build_run("log.txt", header or Header(), [], steps(*lines), None, warnings)


def test_a_finished_run_and_its_figures() -> None:
    r = run(*MODERN, warnings=("line 9: cut",))
    assert r.format == "2025" and r.source == "log.txt" and r.warnings == ("line 9: cut",)
    assert [p.step for p in r.val_points] == [0, 4] and [p.step for p in r.train_points] == [2]
    assert (r.final_val_loss, r.final_train_time_ms) == (3.9, 400.0)
    assert r.total_steps == 4 and r.completed


def test_a_run_that_stopped_early_is_not_completed() -> None:
    r = run(*MODERN[:2], "step:3/4 train_loss:4.0 train_time:300ms step_avg:100.00ms")
    assert r.final_val_loss == 5.5 and r.final_train_time_ms == 300.0
    assert r.total_steps == 4 and not r.completed


def test_header_and_peak_memory_are_carried() -> None:
    header = Header(
        code="x", code_sha256="ab", versions={"torch": "2.5"}, gpu_model="H100", gpu_count=8
    )
    text = split_lines("peak memory allocated: 123 MiB reserved: 456 MiB\n", 1000)
    r = build_run("log.txt", header, [], steps(*MODERN), find_peak(text, 0, 2), ())
    assert (r.code, r.versions, r.gpu_model, r.gpu_count) == ("x", {"torch": "2.5"}, "H100", 8)
    assert (r.peak_memory_allocated_mib, r.peak_memory_reserved_mib) == (123, 456)


@pytest.mark.parametrize(
    ("lines", "header", "era"),
    [
        (("s:0 tel:5.0", "s:10 trl:4.0 lr:1 norm:1", "s:20 tel:3.9"), Header(), "llmc"),
        (
            (
                "step:0/2 val_loss:5.0 train_time:0s step_avg:nanms",
                "step:2/2 val_loss:3.9 train_time:1.5s step_avg:750ms",
            ),
            Header(),
            "track3",
        ),
        (
            (
                "step:0/20 val_loss:5.0 train_time:0ms step_avg:nanms",
                "step:1/20 train_loss:4.9 train_time:100ms step_avg:nanms",  # untimed
                "step:20/20 val_loss:3.9 train_time:2000ms step_avg:100ms",
            ),
            Header(),
            "2024",
        ),
        (MODERN, Header(is_harness=True), "harness"),
        (MODERN, Header(), "2025"),
    ],
)
def test_the_era_is_told_from_the_lines(lines: tuple[str, ...], header: Header, era: str) -> None:
    assert run(*lines, header=header).format == era


def test_a_restarting_clock_in_the_first_steps_is_the_2024_grace_period() -> None:
    r = run(
        "step:0/20 val_loss:5.0 train_time:0ms step_avg:nanms",
        "step:9/20 train_loss:4.9 train_time:900ms step_avg:100ms",
        "step:11/20 train_loss:4.8 train_time:100ms step_avg:100ms",  # restarted at step 10
        "step:20/20 val_loss:3.9 train_time:1000ms step_avg:100ms",
    )
    assert r.format == "2024"


def test_llmc_runs_have_no_total_and_never_read_as_completed() -> None:
    r = run("s:0 tel:5.0", "s:20 tel:3.9")
    assert r.final_val_loss == 3.9 and r.total_steps is None and not r.completed
