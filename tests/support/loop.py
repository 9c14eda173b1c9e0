"""The whole loop as real processes: `speedrun serve`, `speedrun agent`s and the admin CLI.

Everything runs as the commands a user types (subprocesses of this interpreter's `speedrun`),
each in its own process group so a test can kill -9 it, children included.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from support.postgres import free_port

SPEEDRUN = [sys.executable, "-m", "speedrun.cli"]
T = TypeVar("T")


def speedrun(*args: str, env: dict[str, str] | None = None, timeout: float = 120) -> str:
    """Run a CLI command to completion; its stdout (raises with stderr on failure)."""
    result = subprocess.run(
        [*SPEEDRUN, *args], capture_output=True, text=True, env=env, timeout=timeout, check=False
    )
    if result.returncode != 0:
        raise AssertionError(f"speedrun {' '.join(args)} failed: {result.stderr[-2000:]}")
    return result.stdout


def wait_until(
    check: Callable[[], T | None], timeout_s: float, what: str, every_s: float = 0.5
) -> T:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(every_s)
    raise AssertionError(f"timed out after {timeout_s:.0f} s waiting for {what}")


def get_json(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=10) as response:
        return json.loads(response.read())


def kill_group(proc: subprocess.Popen[bytes], sig: int = signal.SIGKILL) -> None:
    try:
        os.killpg(proc.pid, sig)
    except ProcessLookupError:
        return
    proc.wait(timeout=30)


def kill_matching(pattern: str) -> None:
    """kill -9 every process whose command line mentions `pattern` (orphaned trainers)."""
    subprocess.run(["pkill", "-9", "-f", pattern], check=False)


@dataclass
class Server:
    db: str
    folder: Path
    env: dict[str, str]
    port: int = field(default_factory=free_port)
    proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> Server:
        log = open(self.folder / "server.log", "ab")  # noqa: SIM115 (kept by the process)
        self.proc = subprocess.Popen(
            [*SPEEDRUN, "serve", "--db", self.db, "--port", str(self.port)],
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        log.close()
        wait_until(self._healthy, 90, "the server to answer")
        return self

    def _healthy(self) -> bool:
        assert self.proc is not None
        if self.proc.poll() is not None:
            raise AssertionError((self.folder / "server.log").read_text()[-3000:])
        try:
            return bool(get_json(f"{self.url}/api/v1/health")["status"] == "ok")
        except (urllib.error.URLError, OSError):
            return False

    def kill(self) -> None:
        if self.proc is not None:
            kill_group(self.proc)
            self.proc = None

    def api(self, path: str) -> Any:
        return get_json(f"{self.url}/api/v1{path}")

    def admin(self, *args: str) -> str:
        return speedrun("admin", *args, "--db", self.db, env=self.env)


def start_server(db: str, folder: Path, **settings: str) -> Server:
    """A server on `db` with SPEEDRUN_* settings (e.g. lease_s="10"). The hidden cpu-smoke
    takes submissions here (the loop's tests run it for speed) unless told otherwise."""
    settings = {"submissions_to_hidden_tracks": "1", **settings}
    env = {**os.environ, **{f"SPEEDRUN_{k.upper()}": v for k, v in settings.items()}}
    folder.mkdir(parents=True, exist_ok=True)
    return Server(db=db, folder=folder, env=env).start()


def register_agent_key(server: Server, name: str) -> Path:
    key = server.folder / f"{name}.key"
    speedrun("keys", "init", "--key", str(key))
    server.admin("runner-add", name, f"{key}.pub")
    return key


def start_agent(
    server: Server, key: Path, work_dir: Path, *extra: str, env: dict[str, str] | None = None
) -> subprocess.Popen[bytes]:
    work_dir.mkdir(parents=True, exist_ok=True)
    log = open(work_dir / "agent.log", "ab")  # noqa: SIM115 (kept by the process)
    proc = subprocess.Popen(
        [
            *SPEEDRUN,
            "agent",
            "--server",
            server.url,
            "--key",
            str(key),
            "--work-dir",
            str(work_dir),
            "--poll",
            "1",
            *extra,
        ],
        env=env or server.env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    log.close()
    return proc


def submit(server: Server, variant: Path, track: str, token: str, description: str) -> int:
    out = speedrun(
        "submit",
        str(variant),
        "--track",
        track,
        "--server",
        server.url,
        "--token",
        token,
        "--description",
        description,
        env=server.env,
    )
    return int(out.split()[1].rstrip(":"))


def job_of(server: Server, submission_id: int) -> dict[str, Any]:
    job: dict[str, Any] = server.api(f"/submissions/{submission_id}")["job"]
    return job


def acked_bundles(work_dir: Path) -> list[Path]:
    return sorted((work_dir / "acked").rglob("*.bundle.tar.gz"))


def pending_bundles(work_dir: Path) -> list[Path]:
    return sorted((work_dir / "pending").rglob("*.bundle.tar.gz"))
