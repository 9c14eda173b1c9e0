"""A bound on what a sandboxed process may write: its output directory is measured while it
runs, and the process is stopped once the directory holds more than the track allows.

A bind-mounted host directory has no quota of its own (and the engines here offer none on
bind mounts), so the runner watches it: every `every_s` it adds up the disk blocks of what is
there (links are not followed; sparse holes cost nothing, as on disk) and counts entries. The
bound holds to within what the process can write in one interval; the container's `/tmp` is a
sized tmpfs, and its log is capped by the engine (runner.backends.sandbox).
"""

from __future__ import annotations

import os
import time
from pathlib import Path

MAX_ENTRIES = 100_000  # files and folders; beyond this the directory counts as over


class OutputGuard:
    def __init__(self, folder: Path | None, limit_bytes: int | None, every_s: float = 0.5) -> None:
        self.folder = folder
        self.limit_bytes = limit_bytes
        self.every_s = every_s
        self._next_s = 0.0
        self.exceeded: str | None = None  # why the process was stopped

    def check(self) -> bool:
        """True (and `exceeded` set) once the directory is over its bound."""
        if self.folder is None or self.limit_bytes is None or self.exceeded:
            return self.exceeded is not None
        now = time.monotonic()
        if now < self._next_s:
            return False
        self._next_s = now + self.every_s
        used, entries = disk_usage(self.folder)
        if used > self.limit_bytes:
            self.exceeded = f"its output directory grew past {self.limit_bytes} bytes"
        elif entries > MAX_ENTRIES:
            self.exceeded = f"its output directory holds more than {MAX_ENTRIES} entries"
        return self.exceeded is not None


def disk_usage(folder: Path) -> tuple[int, int]:
    """(bytes on disk, entries) under `folder`, links not followed, stopping early when huge."""
    used, entries = 0, 0
    todo = [str(folder)]
    while todo and entries <= MAX_ENTRIES:
        try:
            scan = os.scandir(todo.pop())
        except OSError:
            continue
        with scan:
            for entry in scan:
                entries += 1
                try:
                    info = entry.stat(follow_symlinks=False)
                except OSError:
                    continue
                used += info.st_blocks * 512
                if entry.is_dir(follow_symlinks=False):
                    todo.append(entry.path)
    return used, entries
