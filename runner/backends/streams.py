"""Line splitting for a process's output stream, shared by both backends."""

from __future__ import annotations

from runner.backends import LineSink

MAX_OUTPUT_BYTES = 32 * 1024 * 1024  # kept for the bundle; beyond this the tail is dropped
MAX_LINE_BYTES = 64 * 1024  # a longer "line" is handed on in pieces (no unbounded buffer)


class LineCollector:
    """Accumulates raw output chunks, hands complete lines to a sink, keeps the text."""

    def __init__(self, sink: LineSink | None) -> None:
        self._sink = sink
        self._pending = b""
        self._parts: list[bytes] = []
        self._size = 0
        self.truncated = False

    def feed(self, chunk: bytes) -> None:
        if self._size + len(chunk) > MAX_OUTPUT_BYTES:
            chunk = chunk[: max(0, MAX_OUTPUT_BYTES - self._size)]
            self.truncated = True
        self._parts.append(chunk)
        self._size += len(chunk)
        data = self._pending + chunk
        *lines, self._pending = data.split(b"\n")
        for line in lines:
            self._emit(line)
        while len(self._pending) > MAX_LINE_BYTES:  # output without newlines: cut it up
            self._emit(self._pending[:MAX_LINE_BYTES])
            self._pending = self._pending[MAX_LINE_BYTES:]

    def finish(self) -> str:
        if self._pending:
            self._emit(self._pending)
            self._pending = b""
        text = b"".join(self._parts).decode("utf-8", errors="replace")
        if self.truncated:
            text += f"\n[runner: output truncated at {MAX_OUTPUT_BYTES} bytes]\n"
        return text

    def _emit(self, line: bytes) -> None:
        if self._sink is not None:
            self._sink(line.decode("utf-8", errors="replace").rstrip("\r"))
