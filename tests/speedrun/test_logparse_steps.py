"""speedrun.logparse.steps: step lines parsed into points (modern lines in any field order,
times in ms or s, llm.c's `s:N tel:X`), malformed lines refused, and step lines grouped into
runs (a run starts at a step-0 val line; its steps never decrease)."""

from __future__ import annotations

import pytest

from speedrun.logparse.steps import STEP_RE, StepLine, parse_step_match, split_runs


def parse(line: str) -> StepLine | None:
    m = STEP_RE.match(line)
    assert m is not None, line
    return parse_step_match(m, 0, 0)


def test_a_modern_val_line_and_train_line() -> None:
    val = parse("step:100/500 val_loss:3.2800 train_time:12345ms step_avg:123.45ms")
    assert val is not None and val.is_val and val.complete and not val.seconds
    assert (val.point.step, val.point.total_steps, val.point.val_loss) == (100, 500, 3.28)
    assert (val.point.train_time_ms, val.point.step_avg_ms) == (12345.0, 123.45)
    train = parse("step:101/500 train_loss:3.1 train_time:12468ms step_avg:123.44ms")
    assert train is not None and not train.is_val and train.point.train_loss == 3.1


def test_fields_in_another_order_and_seconds_are_read() -> None:
    line = parse("step:5/10 train_time:1.5s val_loss:4.0 extra:1 step_avg:300ms")
    assert line is not None and line.seconds and line.is_val
    assert line.point.train_time_ms == 1500.0 and line.point.val_loss == 4.0
    track3 = parse("step:7/10 val_loss:3.9 train_time:2.25s step_avg:321.4ms")
    assert track3 is not None and track3.seconds and track3.point.train_time_ms == 2250.0


def test_nan_fields_are_none_and_an_unfinished_line_is_incomplete() -> None:
    first = parse("step:0/10 val_loss:5.5 train_time:0ms step_avg:nanms")
    assert first is not None and first.point.step_avg_ms is None
    cut = parse("step:3/10 val_loss:4.2 train_time:300ms")
    assert cut is not None and not cut.complete


def test_llmc_lines() -> None:
    val = parse("s:250 tel:3.5012")
    assert val is not None and val.llmc and val.is_val and val.point.val_loss == 3.5012
    assert val.point.total_steps is None
    train = parse("s:251 trl:3.4 lr:0.0006 norm:0.3")
    assert train is not None and not train.is_val and train.point.train_loss == 3.4


@pytest.mark.parametrize(
    "line",
    [
        "step: val_loss:3.0",  # no N/M
        "step:1/2 val_loss:three train_time:1ms step_avg:1ms",
        "step:1/2 garbage",
        f"step:{'9' * 40}/2 val_loss:3.0 train_time:1ms step_avg:1ms",  # an absurd number
        "s:3 tel:",
    ],
)
def test_malformed_lines_are_refused(line: str) -> None:
    assert parse(line) is None


def lines(*steps: tuple[int, int, bool]) -> list[StepLine]:
    out = []
    for i, (step, total, is_val) in enumerate(steps):
        field = "val_loss:4.0" if is_val else "train_loss:4.0"
        parsed = parse(f"step:{step}/{total} {field} train_time:{step}ms step_avg:1ms")
        assert parsed is not None
        out.append(StepLine(i, 0, parsed.point, parsed.is_val))
    return out


def test_runs_start_at_step_zero_val_lines() -> None:
    log = lines((0, 2, True), (1, 2, False), (2, 2, True), (0, 2, True), (2, 2, True))
    runs = split_runs(log)
    assert [[ln.point.step for ln in main] for _, main in runs] == [[0, 1, 2], [0, 2]]
    assert all(warmup == [] for warmup, _ in runs)


def test_lines_before_the_first_start_are_its_warmup_and_a_decrease_splits_runs() -> None:
    log = lines((1, 5, False), (2, 5, False), (0, 5, True), (5, 5, True))
    [(warmup, main)] = split_runs(log)
    assert [ln.point.step for ln in warmup] == [1, 2] and [ln.point.step for ln in main] == [0, 5]
    # no step-0 line: runs are the stretches whose steps never decrease
    no_start = split_runs(lines((3, 4, False), (4, 4, True), (1, 4, False), (4, 4, True)))
    assert [[ln.point.step for ln in main] for _, main in no_start] == [[3, 4], [1, 4]]
