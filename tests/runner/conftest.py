"""Fixtures of the runner's tests: track data, a signing key, one shared local session."""

from __future__ import annotations

import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from runner_helpers import TINY, Session, cli

from speedrun import signing
from speedrun.data.fetch import fetch_track_data
from speedrun.tracks import get_track


@pytest.fixture(scope="session")
def smoke_data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    data_dir = tmp_path_factory.mktemp("runner-data")
    fetch_track_data(get_track("cpu-smoke"), data_dir, progress=False)
    return data_dir


@pytest.fixture(scope="session")
def runner_key(tmp_path_factory: pytest.TempPathFactory) -> Path:
    key = tmp_path_factory.mktemp("runner-key") / "runner.key"
    signing.init_keypair(key)
    return key


@pytest.fixture(scope="session")
def tiny_local_runs(
    tmp_path_factory: pytest.TempPathFactory, smoke_data_dir: Path, runner_key: Path
) -> Iterator[Session]:
    """`speedrun run tiny_harness.py --track cpu-smoke --backend local --runs 2`, once."""
    out = tmp_path_factory.mktemp("tiny-local")
    work = tmp_path_factory.mktemp("tiny-local-work")
    saved, tempfile.tempdir = tempfile.tempdir, str(work)  # workspaces land here
    try:
        code, stdout, stderr = cli(
            "run",
            str(TINY),
            "--track",
            "cpu-smoke",
            "--backend",
            "local",
            "--runs",
            "2",
            "--out",
            str(out),
            "--key",
            str(runner_key),
            "--data-dir",
            str(smoke_data_dir),
            "--seed",
            "100",
            "--quiet",
        )
    finally:
        tempfile.tempdir = saved
    assert not list(work.iterdir()), "attempt workspaces were left behind"
    yield Session(out, code, stdout, stderr)


@pytest.fixture(scope="session")
def engine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """podman's service on a private socket; DOCKER_HOST points at it for the module."""
    if subprocess.run(["which", "podman"], capture_output=True).returncode != 0:
        pytest.skip("podman is not installed (scripts/system-deps.sh installs it)")
    from runner.backends.docker import connect
    from runner.podman import start_service

    service = start_service(tmp_path_factory.mktemp("podman"))
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("DOCKER_HOST", service.docker_host)
        client = connect()
        try:
            yield client
        finally:
            client.close()
            service.stop()


@pytest.fixture(scope="session")
def image(engine: Any) -> str:
    from runner.image import build_image

    started = time.monotonic()
    tag = build_image("cpu", progress=False)
    print(f"\nCPU image {tag} ready in {time.monotonic() - started:.0f} s")
    return tag
