"""The agent's host name is fixed in docker/compose.yaml: it is part of every run's machine
key (speedrun.machine_id), and a container's default name is random per re-creation, which
would make one machine look like a new one after each upgrade."""

from __future__ import annotations

from pathlib import Path

import yaml

COMPOSE = Path(__file__).resolve().parents[2] / "docker" / "compose.yaml"


def test_the_agent_has_a_stable_host_name() -> None:
    agent = yaml.safe_load(COMPOSE.read_text())["services"]["agent"]
    assert agent["hostname"] == "${SPEEDRUN_AGENT_HOSTNAME:-speedrun-agent}"
