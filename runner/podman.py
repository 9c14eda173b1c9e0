"""podman's Docker-compatible service, started for tests and laptops without a Docker daemon.

`podman system service --time=0 unix:///path.sock` serves the Docker Engine API; the docker
backend talks to it through `DOCKER_HOST=unix:///path.sock`. The settings these machines need
(runc, cgroupfs, no default ulimits) come from docker/podman/containers.conf unless
CONTAINERS_CONF already names a file.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from runner.errors import EngineError

REPO_ROOT = Path(__file__).resolve().parent.parent
CONTAINERS_CONF = REPO_ROOT / "docker" / "podman" / "containers.conf"


def podman_env(base: dict[str, str] | None = None) -> dict[str, str]:
    """The environment podman commands should run with here."""
    env = dict(os.environ if base is None else base)
    if "CONTAINERS_CONF" not in env and CONTAINERS_CONF.exists():
        env["CONTAINERS_CONF"] = str(CONTAINERS_CONF)
    return env


@dataclass
class PodmanService:
    socket_path: Path
    process: subprocess.Popen[bytes]

    @property
    def docker_host(self) -> str:
        return f"unix://{self.socket_path}"

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        with contextlib.suppress(FileNotFoundError):
            self.socket_path.unlink()


def start_service(folder: Path, *, timeout_s: float = 60.0) -> PodmanService:
    """Start the service on `folder/podman.sock`; return once the API answers."""
    if shutil.which("podman") is None:
        raise EngineError("podman is not installed (see scripts/system-deps.sh)")
    folder.mkdir(parents=True, exist_ok=True)
    sock = folder / "podman.sock"
    log = open(folder / "podman-service.log", "wb")  # noqa: SIM115 (lives with the process)
    proc = subprocess.Popen(
        ["podman", "system", "service", "--time=0", f"unix://{sock}"],
        env=podman_env(),
        cwd=folder,  # conmon leaves files (an `oom` mark) in its working folder: not the caller's
        stdin=subprocess.DEVNULL,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    log.close()
    service = PodmanService(sock, proc)
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            text = (folder / "podman-service.log").read_text(errors="replace")[-2000:]
            raise EngineError(f"podman service exited ({proc.returncode}): {text}")
        if sock.exists() and _answers(service.docker_host):
            return service
        time.sleep(0.2)
    service.stop()
    raise EngineError(f"podman service did not answer on {sock} within {timeout_s:.0f} s")


def _answers(base_url: str) -> bool:
    import docker

    try:
        client = docker.DockerClient(base_url=base_url, timeout=5)
        client.ping()
        client.close()
    except Exception:
        return False
    return True
