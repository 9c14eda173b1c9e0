"""runner.backends: the contract both backends keep. A `ProcessSpec` in, a `ProcessResult`
out; the spec's defaults are those of a training process; and the local backend (the one this
machine can always run) satisfies the `Backend` protocol the attempt is written against."""

from __future__ import annotations

import dataclasses
import sys
from pathlib import Path

import pytest

from runner.backends import Backend, Mount, ProcessResult, ProcessSpec
from runner.backends.local import LocalBackend


def spec(tmp_path: Path, *argv: str, **changes: object) -> ProcessSpec:
    return dataclasses.replace(
        ProcessSpec(
            argv=list(argv),
            env={"GREETING": "hi"},
            cwd=str(tmp_path),
            mounts=[Mount(tmp_path, "/work")],
            time_limit_s=30,
            memory_bytes=1 << 30,
            pids=64,
        ),
        **changes,
    )


def test_a_spec_defaults_to_a_training_process_without_gpus_or_bounds(tmp_path: Path) -> None:
    s = spec(tmp_path, "true")
    assert (s.role, s.gpus, s.cpus, s.labels) == ("train", 0, None, {})
    assert (s.output_dir, s.output_bytes) == (None, None)
    assert s.mounts[0].read_only  # mounts are read-only unless said otherwise
    with pytest.raises(dataclasses.FrozenInstanceError):
        s.role = "eval"  # type: ignore[misc]


def test_the_local_backend_keeps_the_contract(tmp_path: Path) -> None:
    backend: Backend = LocalBackend()
    assert backend.name == "local" and backend.python == sys.executable
    assert backend.visible_path("/work/x", tmp_path / "x") == str(tmp_path / "x")
    assert backend.describe() == {"python": sys.executable}
    lines: list[str] = []
    pids: list[int] = []
    code = "import os, sys; print(os.environ['GREETING']); print(os.getcwd()); sys.exit(3)"
    result = backend.run(
        spec(tmp_path, sys.executable, "-c", code), on_line=lines.append, on_start=pids.append
    )
    backend.close()
    assert isinstance(result, ProcessResult)
    assert (result.exit_code, result.timed_out, result.oom_killed) == (3, False, False)
    assert lines == ["hi", str(tmp_path)] and result.output == "hi\n" + str(tmp_path) + "\n"
    assert len(pids) == 1 and result.t0_s <= result.t_end_s
    assert result.killed_by_signal is None and result.limit_exceeded is None


def test_a_process_past_its_time_limit_is_killed_and_has_no_exit_code(tmp_path: Path) -> None:
    result = LocalBackend().run(
        spec(tmp_path, sys.executable, "-c", "import time; time.sleep(30)", time_limit_s=0.5)
    )
    assert result.timed_out and result.exit_code is None
    assert result.t_end_s - result.t0_s < 10
