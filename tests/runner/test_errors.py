"""runner.errors: the runner's failures are speedrun errors (one line and an exit code from
the CLI); an interrupted run exits 130, as a shell expects of SIGINT, and names the signal."""

from __future__ import annotations

import pytest

from runner.errors import EngineError, ImageError, RunInterruptedError, RunnerError
from speedrun.errors import SpeedrunError


@pytest.mark.parametrize("error", [RunnerError("x"), EngineError("x"), ImageError("x")])
def test_runner_failures_exit_1_and_are_speedrun_errors(error: RunnerError) -> None:
    assert isinstance(error, SpeedrunError) and isinstance(error, RunnerError)
    assert error.exit_code == 1


def test_an_interrupted_run_names_its_signal_and_exits_130() -> None:
    err = RunInterruptedError("SIGTERM")
    assert err.exit_code == 130 and err.signal_name == "SIGTERM"
    assert str(err) == "interrupted by SIGTERM; running containers were removed"
    with pytest.raises(RunnerError):
        raise err
