"""Small helpers for the server tests: row counts of every table, problem-JSON checks, and a
live server (in a thread, or `speedrun serve` in a process of its own)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select
from support.postgres import free_port

from server.db import Database
from server.models import Base
from server.services import read_models, run_logs
from speedrun.logparse import parse_log

# The nonces of signed agent requests are recorded once the signature verifies, whatever
# the request then gets (so it cannot be replayed): bookkeeping, not data a refusal stores.
BOOKKEEPING = frozenset({"agent_nonces"})


def row_counts(db: Database) -> dict[str, int]:
    """Rows per table, every table but the request bookkeeping (`BOOKKEEPING`)."""
    with db.reader() as session:
        return {
            name: session.scalar(select(func.count()).select_from(table)) or 0
            for name, table in Base.metadata.tables.items()
            if name not in BOOKKEEPING
        }


def assert_problem(response: Any, status: int, code: str | None = None) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body: dict[str, Any] = response.json()
    assert set(body) == {"type", "title", "status", "detail", "code"}
    assert body["status"] == status
    if code is not None:
        assert body["code"] == code, body
    return body


def count_log_reads(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Count every log parse and bundle read the server's read paths could make."""
    calls: list[str] = []

    def counted(name: str, real: Callable[..., Any]) -> Callable[..., Any]:
        def call(*args: Any, **kwargs: Any) -> Any:
            calls.append(name)
            return real(*args, **kwargs)

        return call

    for module, name in (
        (run_logs, "parse_log"),
        (run_logs, "read_bundle"),
        (read_models, "read_bundle"),
    ):
        monkeypatch.setattr(module, name, counted(name, getattr(module, name)))
    monkeypatch.setattr("speedrun.logparse.parse_log", counted("parse_log", parse_log))
    return calls


@dataclass(frozen=True)
class Served:
    base: str
    pid: int

    def memory_kib(self, field: str = "VmHWM") -> int:
        """A /proc/<pid>/status figure of the server process: VmHWM (peak RSS) or VmRSS."""
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
        raise AssertionError(f"no {field} in /proc/{self.pid}/status")


@contextmanager
def serve_process(db_url: str, **env: str) -> Iterator[Served]:
    """`speedrun serve` on `db_url` in a process of its own (settings from `env`, e.g.
    SPEEDRUN_MAX_BUNDLE_BYTES): what the internet would face, measurable from outside."""
    port = free_port()
    command = [sys.executable, "-m", "speedrun.cli", "serve", "--db", db_url, "--port", str(port)]
    proc = subprocess.Popen(
        [*command, "--log-level", "warning"],
        env={**os.environ, **env},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
            try:
                if httpx.get(f"{base}/api/v1/health", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                assert time.monotonic() < deadline, "speedrun serve did not come up in 60 s"
                time.sleep(0.2)
        yield Served(base, proc.pid)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
