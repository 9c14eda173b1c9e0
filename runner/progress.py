"""The live display: step, loss and elapsed time per attempt, from the streamed log lines.

On a terminal one status line is redrawn in place; otherwise (CI logs, pipes) a line is
printed at most every few seconds. `--quiet` turns it off.
"""

from __future__ import annotations

import re
import sys
import time
from typing import TextIO

from runner.events import Event

_STEP_RE = re.compile(r"^step:(\d+)/(\d+)")
_LOSS_RE = re.compile(r"\b(val_loss|train_loss):([0-9.]+|nan|inf)")
PLAIN_EVERY_S = 5.0


class Progress:
    def __init__(self, *, quiet: bool, stream: TextIO | None = None) -> None:
        self.quiet = quiet
        self.stream = stream or sys.stderr
        self.tty = self.stream.isatty()
        self.label = ""
        self.started_s = time.monotonic()
        self.step = ""
        self.loss = ""
        self.phase = ""
        self._last_print_s = 0.0

    def begin(self, label: str) -> None:
        self.label, self.step, self.loss, self.phase = label, "", "", "starting"
        self.started_s = time.monotonic()
        self._render(force=True)

    def line(self, text: str) -> None:
        m = _STEP_RE.match(text)
        if not m:
            return
        self.step = f"{m.group(1)}/{m.group(2)}"
        for kind, value in _LOSS_RE.findall(text):
            self.loss = f"{kind.replace('_loss', '')} {value}"
        self.phase = "training"
        self._render()

    def event(self, event: Event) -> None:
        self.phase = {
            "warmup_start": "warmup",
            "warmup_end": "training",
            "val_pause": "val",
            "val_resume": "training",
            "done": "exporting",
        }.get(event.name, self.phase)
        self._render()

    def note(self, phase: str) -> None:
        self.phase = phase
        self._render(force=True)

    def end(self, summary: str) -> None:
        if self.quiet:
            return
        prefix = "\r\033[K" if self.tty else ""
        print(f"{prefix}{self.label}  {summary}", file=self.stream, flush=True)

    def _render(self, *, force: bool = False) -> None:
        if self.quiet:
            return
        now = time.monotonic()
        if not self.tty and not force and now - self._last_print_s < PLAIN_EVERY_S:
            return
        self._last_print_s = now
        parts = [self.label, self.phase]
        if self.step:
            parts.append(f"step {self.step}")
        if self.loss:
            parts.append(self.loss)
        parts.append(f"{now - self.started_s:6.1f}s")
        text = "  ".join(p for p in parts if p)
        if self.tty:
            print(f"\r\033[K{text}", end="", file=self.stream, flush=True)
        else:
            print(text, file=self.stream, flush=True)
