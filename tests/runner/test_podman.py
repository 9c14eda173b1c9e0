"""runner.podman: the environment podman commands run with, and starting podman's
Docker-compatible service: refused clearly where podman is missing or the service dies, and
stopped (socket removed) when done. A service answering the Docker API is started in
tests/runner/test_backends_docker.py."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from runner.errors import EngineError
from runner.podman import CONTAINERS_CONF, PodmanService, podman_env, start_service


def test_the_repos_containers_conf_is_used_unless_one_is_named() -> None:
    env = podman_env({"PATH": "/usr/bin"})
    assert env == {"PATH": "/usr/bin", "CONTAINERS_CONF": str(CONTAINERS_CONF)}
    assert CONTAINERS_CONF.is_file()
    mine = podman_env({"CONTAINERS_CONF": "/etc/mine.conf"})
    assert mine == {"CONTAINERS_CONF": "/etc/mine.conf"}


def test_without_podman_the_service_is_a_clear_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))  # no podman on it
    with pytest.raises(EngineError, match="podman is not installed"):
        start_service(tmp_path / "svc")
    assert not (tmp_path / "svc").exists()


def test_a_service_that_exits_is_reported_with_its_log(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake = tmp_path / "bin" / "podman"  # a podman that fails at once, as a broken install does
    fake.parent.mkdir()
    fake.write_text("#!/bin/sh\necho 'cannot set up namespace' >&2\nexit 125\n")
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", str(fake.parent))
    with pytest.raises(EngineError, match=r"exited \(125\): cannot set up namespace"):
        start_service(tmp_path / "svc", timeout_s=10)


def test_stopping_ends_the_process_and_removes_the_socket(tmp_path: Path) -> None:
    sock = tmp_path / "podman.sock"
    sock.touch()
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    service = PodmanService(sock, proc)
    assert service.docker_host == f"unix://{sock}"
    service.stop()
    assert proc.returncode is not None and not sock.exists()
    service.stop()  # twice is harmless


def test_the_service_runs_in_its_own_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # conmon leaves an `oom` mark in its working folder when a container runs out of memory:
    # it used to land in whatever folder the caller was in (a repository checkout)
    fake = tmp_path / "bin" / "podman"
    fake.parent.mkdir()
    fake.write_text(f"#!/bin/sh\npwd > {tmp_path / 'cwd.txt'}\nexit 125\n")
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", str(fake.parent))
    monkeypatch.chdir(tmp_path)
    with pytest.raises(EngineError):
        start_service(tmp_path / "svc", timeout_s=10)
    assert (tmp_path / "cwd.txt").read_text().strip() == str(tmp_path / "svc")
