"""The GPU-host deployment (docker/compose.yaml), checked with the tools CI has: podman-compose
resolves it, and its structure keeps the promises the README makes about it."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
COMPOSE = REPO / "docker" / "compose.yaml"


def _config(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    exe = shutil.which("podman-compose") or str(Path(sys.executable).with_name("podman-compose"))
    return subprocess.run(
        [exe, "-f", str(COMPOSE), "config"],
        capture_output=True,
        text=True,
        env=env,
        cwd=REPO / "docker",
        timeout=60,
        check=False,
    )


@pytest.fixture(scope="module")
def resolved(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    key = tmp_path_factory.mktemp("key") / "runner.key"
    key.write_text("not a real key: only the path matters here")
    result = _config({**os.environ, "SPEEDRUN_RUNNER_KEY": str(key)})
    assert result.returncode == 0, result.stderr
    config: dict[str, Any] = yaml.safe_load(result.stdout)
    config["_key"] = str(key)
    return config


def test_compose_resolves_to_a_server_and_an_agent(resolved: dict[str, Any]) -> None:
    services = resolved["services"]
    assert set(services) == {"server", "agent"}
    server, agent = services["server"], services["agent"]
    assert server["command"][:2] == ["speedrun", "serve"]
    assert any(v.endswith(":/var/lib/speedrun") for v in server["volumes"])  # the database
    assert agent["command"][:2] == ["speedrun", "agent"]
    assert agent["command"][agent["command"].index("--backend") + 1] == "docker"
    assert agent["depends_on"]["server"]["condition"] == "service_healthy"


def test_the_agent_gets_the_gpus_and_the_host_engine(resolved: dict[str, Any]) -> None:
    agent = resolved["services"]["agent"]
    [device] = agent["deploy"]["resources"]["reservations"]["devices"]
    assert device["driver"] == "nvidia" and "gpu" in device["capabilities"]
    assert agent["environment"]["DOCKER_HOST"] == "unix:///var/run/docker.sock"
    cmd = agent["command"]
    assert cmd[cmd.index("--image") + 1] == "localhost/speedrun-cuda:latest"
    # Work and data directories are the same path on the host, so the engine can mount them.
    assert "/var/lib/speedrun-agent:/var/lib/speedrun-agent" in agent["volumes"]
    assert cmd[cmd.index("--work-dir") + 1].startswith("/var/lib/speedrun-agent/")


def test_the_signing_key_reaches_the_agent_alone_read_only(resolved: dict[str, Any]) -> None:
    key = resolved["_key"]
    mounts = {
        name: [v for v in svc.get("volumes", []) if key in str(v)]
        for name, svc in resolved["services"].items()
    }
    assert mounts["server"] == []
    [mount] = mounts["agent"]
    assert mount["read_only"] is True and mount["target"] == "/run/speedrun/runner.key"
    agent_cmd = resolved["services"]["agent"]["command"]
    assert agent_cmd[agent_cmd.index("--key") + 1] == mount["target"]
    for svc in resolved["services"].values():  # never through the environment either
        assert key not in str(svc.get("environment", {}))


def test_the_held_out_secret_reaches_the_agent_alone_read_only_at_its_host_path(
    resolved: dict[str, Any],
) -> None:
    """The secret and private slices: the agent's, read-only, at the host's path (the runner
    mounts a private slice into the evaluator's sibling container by that path)."""
    folder = "/var/lib/speedrun-held-out"
    mounts = {
        name: [v for v in svc.get("volumes", []) if folder in str(v)]
        for name, svc in resolved["services"].items()
    }
    assert mounts["server"] == []
    [mount] = mounts["agent"]
    assert mount["read_only"] is True and mount["source"] == mount["target"] == folder
    agent_cmd = resolved["services"]["agent"]["command"]
    assert agent_cmd[agent_cmd.index("--held-out") + 1] == f"{folder}/secret"


def test_the_key_path_is_required() -> None:
    result = _config({k: v for k, v in os.environ.items() if k != "SPEEDRUN_RUNNER_KEY"})
    assert result.returncode != 0
    assert "SPEEDRUN_RUNNER_KEY" in result.stderr + result.stdout


def test_the_service_image_recipe_installs_no_torch() -> None:
    recipe = (REPO / "docker" / "service" / "Containerfile").read_text()
    assert "find_spec('torch') is None" in recipe
    assert "COPY server/" in recipe and "COPY runner/" in recipe
