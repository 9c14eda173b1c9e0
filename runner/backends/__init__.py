"""Where an attempt's processes run. Both backends take a `ProcessSpec` and return a
`ProcessResult`; the attempt never knows which one it talks to beyond `visible_path`.

    docker   a container per process through the Docker Engine API (any engine that speaks
             it: Docker, or podman's service); sandboxed, the only backend records count from
    local    a subprocess of this interpreter; no sandbox, for development; never a record
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, Protocol

BackendName = Literal["docker", "local"]


@dataclass(frozen=True)
class Mount:
    source: Path  # on the host
    target: str  # inside the sandbox (the local backend uses `source` itself)
    read_only: bool = True


@dataclass(frozen=True)
class ProcessSpec:
    argv: list[str]
    env: dict[str, str]
    cwd: str
    mounts: list[Mount]
    time_limit_s: float
    memory_bytes: int
    pids: int
    gpus: int = 0
    role: str = "train"  # "train", "eval", "probe" or "calibrate": names containers, logs
    labels: dict[str, str] = field(default_factory=dict)
    cpus: float | None = None  # CPU cores the process may use (CPU tracks: the track's count)
    output_dir: Path | None = None  # host folder of its writable mount, watched while it runs
    output_bytes: int | None = None  # ... and its bound (runner.backends.guard)


@dataclass(frozen=True)
class ProcessResult:
    exit_code: int | None  # None when killed by the runner (timeout)
    timed_out: bool
    oom_killed: bool
    t0_s: float  # runner monotonic clock when the process was started
    t_end_s: float  # ... when it was seen to exit
    output: str  # stdout and stderr together
    peak_memory_bytes: int | None = None
    killed_by_signal: int | None = None
    limit_exceeded: str | None = None  # a bound the runner stopped it for (output size)


LineSink = Callable[[str], None]
StartHook = Callable[[int], None]  # called with the process's host pid once it runs


class Backend(Protocol):
    name: BackendName
    python: str  # the interpreter that runs torchrun, the evaluator and the probe

    def visible_path(self, mount_target: str, host_path: Path) -> str:
        """Where the process sees a mounted file: the target in a container, else the host."""
        ...

    def run(
        self,
        spec: ProcessSpec,
        *,
        on_line: LineSink | None = None,
        on_start: StartHook | None = None,
    ) -> ProcessResult: ...

    def describe(self) -> dict[str, object]:
        """What goes into the fingerprint about the backend (image name and digest...)."""
        ...

    def close(self) -> None: ...
