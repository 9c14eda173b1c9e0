"""speedrun.harness.runlog: the log lines a variant prints, which speedrun.logparse must read
back exactly (step lines, header, peak memory), and negative steps refused."""

from __future__ import annotations

import math

import pytest
import torch

from speedrun.harness.runlog import RULER, header_lines, peak_memory_line, step_line
from speedrun.logparse import format_step_line, parse_log

CPU = torch.device("cpu")


def test_step_lines_have_the_canonical_form() -> None:
    assert (
        step_line(10, 100, val_loss=4.12345, train_time_ms=950.4)
        == "step:10/100 val_loss:4.1235 train_time:950ms step_avg:95.04ms"
    )
    assert step_line(0, 5, train_loss=1.0, train_time_ms=12.0) == (
        "step:0/5 train_loss:1.0000 train_time:12ms step_avg:12.00ms"
    )
    line = step_line(3, 9, train_time_ms=30.0, step_avg_ms=7.5)
    assert line == format_step_line(3, 9, train_time_ms=30.0, step_avg_ms=7.5)


def test_negative_steps_are_refused() -> None:
    with pytest.raises(ValueError, match="steps must be >= 0"):
        step_line(-1, 10, train_time_ms=0.0)
    with pytest.raises(ValueError, match="-3"):
        step_line(1, -3, train_time_ms=0.0)


def test_a_log_written_with_these_lines_parses_back() -> None:
    code = "print('variant')"
    lines = [
        *header_lines(code, CPU),
        step_line(0, 2, val_loss=5.0, train_time_ms=0.0),
        step_line(1, 2, train_loss=4.5, train_time_ms=100.0),
        step_line(2, 2, val_loss=3.25, train_time_ms=200.0),
        peak_memory_line(CPU),
    ]
    assert lines[1] == RULER and RULER in lines[3:]
    (run,) = parse_log("\n".join(lines) + "\n")
    assert run.completed and run.total_steps == 2
    assert run.final_val_loss is not None and math.isclose(run.final_val_loss, 3.25)
    assert run.final_train_time_ms == 200.0
    assert run.peak_memory_allocated_mib is not None and run.peak_memory_allocated_mib > 0
    assert run.code is not None and code in run.code
