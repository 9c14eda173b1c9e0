"""The live display: step, loss and elapsed time from the streamed log lines."""

from __future__ import annotations

import io

from runner.events import Event
from runner.progress import Progress


def test_progress_shows_step_loss_and_phase() -> None:
    stream = io.StringIO()
    p = Progress(quiet=False, stream=stream)
    p.begin("[1/2 seed 5]")
    p.event(Event("warmup_start", 0.0))
    p.line("step:10/100 train_loss:3.2100 train_time:950ms step_avg:95.00ms")
    p.line("some other output")
    p.note("evaluating")  # forced: shown even when not a terminal
    p.end("completed  time 1.000 s")
    text = stream.getvalue()
    assert "[1/2 seed 5]  starting" in text
    assert "evaluating  step 10/100  train 3.2100" in text
    assert text.rstrip().endswith("[1/2 seed 5]  completed  time 1.000 s")


def test_quiet_prints_nothing() -> None:
    stream = io.StringIO()
    p = Progress(quiet=True, stream=stream)
    p.begin("x")
    p.line("step:1/2 val_loss:1.0")
    p.end("done")
    assert stream.getvalue() == ""
