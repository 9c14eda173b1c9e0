"""The runner's exceptions, all under speedrun.errors.SpeedrunError (exit codes there).

RunnerError (1)            something in the runner's own machinery failed
├── EngineError (1)        the container engine is unreachable or refused a request
├── ImageError (1)         an image is missing or its build failed
└── RunInterruptedError (130)      SIGINT/SIGTERM arrived during a run; containers were removed
"""

from __future__ import annotations

from speedrun.errors import SpeedrunError


class RunnerError(SpeedrunError):
    exit_code = 1


class EngineError(RunnerError):
    pass


class ImageError(RunnerError):
    pass


class RunInterruptedError(RunnerError):
    exit_code = 130

    def __init__(self, signal_name: str) -> None:
        super().__init__(f"interrupted by {signal_name}; running containers were removed")
        self.signal_name = signal_name
