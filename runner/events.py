"""The event channel: harness events read from a FIFO and timestamped on arrival.

The runner creates a named pipe, hands its path to the variant as `SPEEDRUN_EVENTS` (in a
container: a read-only bind mount; a FIFO stays writable there, because the kernel's
read-only check applies to regular files, directories and links only), and reads it on a
thread. Every line is stamped with the runner's own `time.monotonic()` the moment it arrives;
whatever times the variant puts into an event are kept but never used for the clock.

The runner holds a write end open itself, so the variant opening and closing the FIFO (or
several processes doing so) never ends the stream early; `stop()` ends it.

What a variant can make the runner hold is bounded: lines of at most MAX_LINE_BYTES, at most
MAX_EVENTS events and MAX_EVENT_BYTES of them (what `events.jsonl` in the bundle can hold);
beyond that the channel keeps reading (so the variant never blocks on a full pipe) but keeps
nothing, and notes it: a protocol breach. JSON numbers must be finite (NaN and Infinity are
malformed lines), so nothing a variant sends can stop the bundle from being signed.
"""

from __future__ import annotations

import json
import os
import select
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from speedrun.harness import EVENT_NAMES

MAX_LINE_BYTES = 4 * 1024  # an event line longer than this is dropped and noted
MAX_EVENTS = 1_000  # an honest run sends a dozen (GPU runs a few dozen)
MAX_EVENT_BYTES = 1024 * 1024  # the events kept, all together
MAX_PROBLEMS = 20


@dataclass(frozen=True)
class Event:
    name: str
    t_s: float  # runner's monotonic clock at arrival
    payload: dict[str, Any] = field(default_factory=dict)

    def to_json(self, t0_s: float) -> dict[str, Any]:
        """The event as recorded in the bundle: offset from the process start, in ms."""
        return {"event": self.name, "t_ms": round((self.t_s - t0_s) * 1000, 3), **self.payload}


@dataclass
class ChannelLog:
    events: list[Event] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)  # malformed or unknown lines


def parse_event_line(line: bytes, t_s: float) -> Event | str:
    """An Event, or a string saying why the line is not one."""
    try:
        data = json.loads(line.decode("utf-8"), parse_constant=_non_finite)
    except (UnicodeDecodeError, ValueError, RecursionError):
        return f"malformed event line: {line[:80]!r}"
    if not isinstance(data, dict) or data.get("event") not in EVENT_NAMES:
        return f"unknown event: {line[:80]!r}"
    name = str(data.pop("event"))
    data.pop("t_ms", None)  # the runner's own field; a variant cannot supply it
    return Event(name=name, t_s=t_s, payload=data)


def _non_finite(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


class EventChannel:
    """Reads a FIFO on a thread; `events` grows as lines arrive."""

    def __init__(self, fifo: Path, *, on_event: Callable[[Event], None] | None = None) -> None:
        self.fifo = fifo
        self.log = ChannelLog()
        self._on_event = on_event
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._read_fd = -1
        self._write_fd = -1
        self._kept_bytes = 0

    def start(self) -> EventChannel:
        # Non-blocking read end first (a blocking open would wait for a writer), then our own
        # write end so the reader never sees end-of-file while the run is going on.
        self._read_fd = os.open(self.fifo, os.O_RDONLY | os.O_NONBLOCK)
        self._write_fd = os.open(self.fifo, os.O_WRONLY | os.O_NONBLOCK)
        self._thread = threading.Thread(target=self._read_loop, name="events", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> ChannelLog:
        """Drain what is buffered, stop the thread and close the FIFO."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
        for fd in (self._read_fd, self._write_fd):
            if fd >= 0:
                os.close(fd)
        self._read_fd = self._write_fd = -1
        return self.log

    def _read_loop(self) -> None:
        pending = b""
        while True:
            stopping = self._stop.is_set()
            ready, _, _ = select.select([self._read_fd], [], [], 0.05)
            chunk = b""
            if ready:
                try:
                    chunk = os.read(self._read_fd, 65536)
                except BlockingIOError:
                    chunk = b""
            now = time.monotonic()
            if chunk:
                pending = self._consume(pending + chunk, now)
            elif stopping:
                break

    def _consume(self, data: bytes, now: float) -> bytes:
        *lines, rest = data.split(b"\n")
        for line in lines:
            self._add(line.strip(), now)
        if len(rest) > MAX_LINE_BYTES:
            self._problem(f"event line over {MAX_LINE_BYTES} bytes dropped")
            return b""
        return rest

    def _problem(self, text: str) -> None:
        if len(self.log.problems) < MAX_PROBLEMS and text not in self.log.problems:
            self.log.problems.append(text)

    def _add(self, line: bytes, now: float) -> None:
        if not line:
            return
        if len(line) > MAX_LINE_BYTES:
            self._problem(f"event line over {MAX_LINE_BYTES} bytes dropped")
            return
        if len(self.log.events) >= MAX_EVENTS or self._kept_bytes + len(line) > MAX_EVENT_BYTES:
            self._problem(
                f"more than {MAX_EVENTS} events or {MAX_EVENT_BYTES} bytes: the rest dropped"
            )
            return
        parsed = parse_event_line(line, now)
        if isinstance(parsed, str):
            self._problem(parsed)
            return
        self._kept_bytes += len(line)
        self.log.events.append(parsed)
        if self._on_event is not None:
            self._on_event(parsed)
