"""A small HTTP/1.1 load generator for the server benchmarks: N keep-alive connections on
asyncio streams, each sending requests back to back for a fixed time. Kept tiny on purpose,
so on a 2-core machine the client spends as little CPU as possible beside the server."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass


@dataclass
class LoadResult:
    requests: int
    seconds: float
    errors: int
    body_bytes: int

    @property
    def rps(self) -> float:
        return self.requests / self.seconds


async def _read_response(reader: asyncio.StreamReader) -> tuple[int, int]:
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head[9:12])
    length = 0
    for line in head.split(b"\r\n"):
        if line[:15].lower() == b"content-length:":
            length = int(line[15:])
    await reader.readexactly(length)
    return status, length


async def _client(
    host: str, port: int, request: bytes, body: bytes, stop_at: float, out: list[int]
) -> None:
    reader, writer = await asyncio.open_connection(host, port)
    done = errors = size = 0
    try:
        while time.perf_counter() < stop_at:
            writer.write(request + body)
            status, length = await _read_response(reader)
            done += 1
            size += length
            errors += status >= 400
    finally:
        writer.close()
        out.extend((done, errors, size))


def run_load(
    host: str,
    port: int,
    path: str,
    *,
    clients: int,
    seconds: float,
    method: str = "GET",
    body: bytes = b"",
    headers: dict[str, str] | None = None,
) -> LoadResult:
    extra = "".join(f"{k}: {v}\r\n" for k, v in (headers or {}).items())
    request = (
        f"{method} {path} HTTP/1.1\r\nHost: {host}\r\nContent-Length: {len(body)}\r\n"
        f"Content-Type: application/octet-stream\r\n{extra}\r\n"
    ).encode()

    async def main() -> LoadResult:
        outs: list[list[int]] = [[] for _ in range(clients)]
        start = time.perf_counter()
        stop_at = start + seconds
        await asyncio.gather(*(_client(host, port, request, body, stop_at, o) for o in outs))
        elapsed = time.perf_counter() - start
        return LoadResult(
            sum(o[0] for o in outs), elapsed, sum(o[1] for o in outs), sum(o[2] for o in outs)
        )

    return asyncio.run(main())


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@contextmanager
def served(db_url: str, **env: str) -> Iterator[int]:
    """`speedrun serve` on a free loopback port, as a separate process; yields the port."""
    port = free_port()
    log = open(os.path.join(tempfile.gettempdir(), f"speedrun-bench-{port}.log"), "w")  # noqa: SIM115
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "speedrun.cli",
            "serve",
            "--db",
            db_url,
            "--port",
            str(port),
            "--log-level",
            "warning",
        ],
        env={**os.environ, **env},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                    break
            except OSError:
                time.sleep(0.1)
        yield port
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(30)
        log.close()
