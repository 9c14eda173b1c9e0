"""The local backend: the variant runs as a subprocess of this interpreter (torchrun from the
same environment). No sandbox: the process can see the whole machine, so its bundles say
backend "local" and never count toward records. It still gets a scrubbed environment, the
wall-clock limit (the whole process group is killed) and the runner's clock.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import IO

from runner.backends import BackendName, LineSink, ProcessResult, ProcessSpec
from runner.backends.streams import LineCollector

PASSED_ENV = ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR", "TZ")
KILL_GRACE_S = 5.0


class LocalBackend:
    name: BackendName = "local"
    python = sys.executable

    def visible_path(self, mount_target: str, host_path: Path) -> str:
        return str(host_path)

    def describe(self) -> dict[str, object]:
        return {"python": sys.executable}

    def close(self) -> None:
        pass

    def run(self, spec: ProcessSpec, *, on_line: LineSink | None = None) -> ProcessResult:
        env = {k: os.environ[k] for k in PASSED_ENV if k in os.environ}
        env.update(spec.env)
        collector = LineCollector(on_line)
        t0 = time.monotonic()
        proc = subprocess.Popen(
            spec.argv,
            cwd=spec.cwd,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: killed as one
        )
        assert proc.stdout is not None
        reader = threading.Thread(target=_pump, args=(proc.stdout, collector), daemon=True)
        reader.start()
        sampler = _PeakSampler(proc.pid)
        timed_out = False
        try:
            deadline = t0 + spec.time_limit_s
            while proc.poll() is None:
                if time.monotonic() >= deadline:
                    timed_out = True
                    _kill_group(proc, signal.SIGKILL)
                    break
                sampler.sample()
                with contextlib.suppress(subprocess.TimeoutExpired):
                    proc.wait(timeout=0.25)
        except BaseException:
            _kill_group(proc, signal.SIGTERM)
            try:
                proc.wait(timeout=KILL_GRACE_S)
            except subprocess.TimeoutExpired:
                _kill_group(proc, signal.SIGKILL)
            raise
        finally:
            if proc.poll() is None:
                _kill_group(proc, signal.SIGKILL)
            proc.wait()
            reader.join(timeout=5)
        t_end = time.monotonic()
        code = proc.returncode
        return ProcessResult(
            exit_code=None if timed_out else code,
            timed_out=timed_out,
            oom_killed=False,
            t0_s=t0,
            t_end_s=t_end,
            output=collector.finish(),
            peak_memory_bytes=sampler.peak_bytes,
            killed_by_signal=-code if code is not None and code < 0 else None,
        )


def _pump(stream: IO[bytes], collector: LineCollector) -> None:
    while chunk := stream.read1(65536):  # type: ignore[attr-defined]
        collector.feed(chunk)


def _kill_group(proc: subprocess.Popen[bytes], sig: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, sig)


class _PeakSampler:
    """Peak resident memory of the process group, summed over its processes (Linux /proc)."""

    def __init__(self, session_id: int) -> None:
        self.session_id = session_id
        self.peak_bytes: int | None = None
        self._next_s = 0.0

    def sample(self) -> None:
        now = time.monotonic()
        if now < self._next_s or not os.path.isdir("/proc"):
            return
        self._next_s = now + 0.5
        total = 0
        for entry in os.scandir("/proc"):
            if entry.name.isdigit():
                total += _rss_if_in_session(entry.path, self.session_id)
        self.peak_bytes = max(self.peak_bytes or 0, total)


def _rss_if_in_session(proc_dir: str, session_id: int) -> int:
    try:
        with open(f"{proc_dir}/stat", "rb") as f:
            fields = f.read().rsplit(b")", 1)[1].split()
        if int(fields[3]) != session_id:  # field 6 (session), after "state ppid pgrp"
            return 0
        return int(fields[21]) * os.sysconf("SC_PAGE_SIZE")  # field 24: rss in pages
    except (OSError, IndexError, ValueError):
        return 0
