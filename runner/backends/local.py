"""The local backend: the variant runs as a subprocess of this interpreter (torchrun from the
same environment). No sandbox: the process can see the whole machine, so its bundles say
backend "local" and never count toward records. It still gets a scrubbed environment, the
wall-clock limit (its whole process tree is killed) and the runner's clock.
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

from runner.backends import BackendName, LineSink, ProcessResult, ProcessSpec, StartHook
from runner.backends.guard import OutputGuard
from runner.backends.streams import LineCollector

# No secrets, but what a local interpreter needs to find itself and its GPUs.
PASSED_ENV = (
    "PATH",
    "HOME",
    "LANG",
    "LC_ALL",
    "TMPDIR",
    "TZ",
    "PYTHONPATH",
    "LD_LIBRARY_PATH",
    "CUDA_VISIBLE_DEVICES",
    "CUDA_HOME",
)


class LocalBackend:
    name: BackendName = "local"
    python = sys.executable

    def visible_path(self, mount_target: str, host_path: Path) -> str:
        return str(host_path)

    def describe(self) -> dict[str, object]:
        return {"python": sys.executable}

    def close(self) -> None:
        pass

    def run(
        self,
        spec: ProcessSpec,
        *,
        on_line: LineSink | None = None,
        on_start: StartHook | None = None,
    ) -> ProcessResult:
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
        if on_start is not None:
            on_start(proc.pid)
        reader = threading.Thread(target=_pump, args=(proc.stdout, collector), daemon=True)
        reader.start()
        sampler = _PeakSampler(proc.pid)
        guard = OutputGuard(spec.output_dir, spec.output_bytes)
        try:
            timed_out = _watch(proc, t0 + spec.time_limit_s, sampler, guard)
        finally:
            # Still running (time limit, interrupt, error): not yet reaped, so its pid and
            # its tree are still its own. A launcher that exited has reaped its workers.
            if proc.returncode is None:
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
            limit_exceeded=guard.exceeded,
        )


def _watch(
    proc: subprocess.Popen[bytes], deadline: float, sampler: _PeakSampler, guard: OutputGuard
) -> bool:
    """Wait for the process, sampling its memory, until it exits, the deadline passes (True)
    or its output outgrows its limit."""
    while proc.poll() is None:
        if time.monotonic() >= deadline:
            return True
        if guard.check():
            break
        sampler.sample()
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=0.25)
    return False


def _pump(stream: IO[bytes], collector: LineCollector) -> None:
    while chunk := stream.read1(65536):  # type: ignore[attr-defined]
        collector.feed(chunk)


def _kill_group(proc: subprocess.Popen[bytes], sig: int) -> None:
    """Signal the launcher and every process below it.

    torchrun starts its workers in sessions of their own, so a process-group kill misses
    them; the tree is read from /proc instead. For SIGKILL the tree is first frozen with
    SIGSTOP until it stops growing, so no process forks or is orphaned (and lost from the
    tree) between the snapshot and the kill."""
    if sig == signal.SIGKILL:
        frozen: set[int] = set()
        for _ in range(20):
            tree = set(process_tree(proc.pid))
            if tree <= frozen:
                break
            for pid in tree - frozen:
                _signal(pid, signal.SIGSTOP)
            frozen |= tree
        for pid in frozen:
            _signal(pid, signal.SIGKILL)
        return
    for pid in process_tree(proc.pid):
        _signal(pid, sig)


def _signal(pid: int, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.kill(pid, sig)


def _proc_stats() -> dict[int, tuple[int, int]]:
    """pid -> (ppid, rss_bytes) for every process, from /proc."""
    page = os.sysconf("SC_PAGE_SIZE")
    stats = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"{entry.path}/stat", "rb") as f:
                fields = f.read().rsplit(b")", 1)[1].split()
            stats[int(entry.name)] = (int(fields[1]), int(fields[21]) * page)
        except (OSError, IndexError, ValueError):
            continue
    return stats


def process_tree(root: int, stats: dict[int, tuple[int, int]] | None = None) -> list[int]:
    """`root` and all its descendants (Linux /proc); just `root` where /proc is missing."""
    if not os.path.isdir("/proc"):
        return [root]
    stats = _proc_stats() if stats is None else stats
    children: dict[int, list[int]] = {}
    for pid, (ppid, _) in stats.items():
        children.setdefault(ppid, []).append(pid)
    tree, todo = [], [root]
    while todo:
        pid = todo.pop()
        tree.append(pid)
        todo.extend(children.get(pid, []))
    return tree


class _PeakSampler:
    """Peak resident memory of the process tree, summed over its processes (Linux /proc)."""

    def __init__(self, root: int) -> None:
        self.root = root
        self.peak_bytes: int | None = None
        self._next_s = 0.0

    def sample(self) -> None:
        now = time.monotonic()
        if now < self._next_s or not os.path.isdir("/proc"):
            return
        self._next_s = now + 0.5
        stats = _proc_stats()
        total = sum(stats.get(pid, (0, 0))[1] for pid in process_tree(self.root, stats))
        self.peak_bytes = max(self.peak_bytes or 0, total)
