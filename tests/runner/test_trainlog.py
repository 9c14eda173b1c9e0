"""runner.trainlog: the attempt log opens like a speedrun log (code, ruler, versions,
hardware, ruler) and the figures it self-reports are read back, or the parse error named."""

from __future__ import annotations

from runner.trainlog import RULER, compose_log, self_report
from speedrun.harness.runlog import step_line

SOFTWARE = {"python": "3.11.9", "torch": "2.5.1", "cuda": None}
CPU = {"cpu_model": "Test CPU", "cpu_count": 4}


def test_the_log_header_names_software_and_cpu_and_the_output_follows() -> None:
    log = compose_log("print(1)\n", SOFTWARE, CPU, "hello")
    assert log.splitlines() == [
        "print(1)",
        RULER,
        "Running Python 3.11.9",
        "Running pytorch 2.5.1 compiled for CUDA None",
        "CPU: Test CPU, 4 cores (no GPU on this track)",
        RULER,
        "hello",
    ]
    assert log.endswith("hello\n")
    gpu = compose_log("x", SOFTWARE, {"nvidia_smi": "| NVIDIA H100 |\n"}, "")
    assert "| NVIDIA H100 |\n" + RULER + "\n" in gpu and "CPU:" not in gpu


def test_the_self_report_is_the_last_runs_final_figures() -> None:
    output = "\n".join(
        [
            step_line(0, 4, val_loss=6.0, train_time_ms=0.0),
            step_line(2, 4, val_loss=4.5, train_time_ms=20.0),
            step_line(4, 4, val_loss=3.125, train_time_ms=41.0),
        ]
    )
    report = self_report(compose_log("code", SOFTWARE, CPU, output), source="run.txt")
    assert (report.val_loss, report.train_time_ms, report.steps) == (3.125, 41.0, 4)
    assert report.parse_error is None


def test_a_log_without_step_lines_reports_why_not_a_crash() -> None:
    report = self_report(compose_log("code", SOFTWARE, CPU, "Traceback: boom\n"), source="r")
    assert report.val_loss is None and report.train_time_ms is None and report.steps is None
    assert report.parse_error
    assert self_report("", source="r").parse_error
