"""Suite-wide guards: no test reaches the real Hugging Face hub or writes outside its tmp_path.

huggingface_hub reads HF_HOME and HF_ENDPOINT once, when it is first imported (which can be
during collection), so both are set in `pytest_configure`, before any test module is imported:
HF_HOME to a throwaway folder, HF_ENDPOINT to a closed loopback port so a test that forgets
its stand-in fails fast instead of going online. Every test then gets its own HF_HOME and
SPEEDRUN_DATA_DIR under the test's temporary folders, for anything it starts in a subprocess.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from pathlib import Path

import pytest

# `from support.hub_standin import HubStandin` works under any import mode, and so do a folder's
# own helpers (`from srv_helpers import ...`): under importlib mode (pyproject.toml) pytest puts
# no test folder on sys.path itself.
HERE = Path(__file__).parent
for folder in ("runner", "server", "web", ""):
    sys.path.insert(0, str(HERE / folder))

_HF_HOME_KEY = pytest.StashKey[str]()
UNREACHABLE_HUB = "http://127.0.0.1:9"  # the discard port: connection refused


def pytest_configure(config: pytest.Config) -> None:
    home = tempfile.mkdtemp(prefix="speedrun-tests-hf-")
    config.stash[_HF_HOME_KEY] = home
    os.environ["HF_HOME"] = home
    os.environ["HF_ENDPOINT"] = UNREACHABLE_HUB
    os.environ["HF_HUB_DISABLE_TELEMETRY"] = "1"
    # Loopback servers started by tests must never be reached through a proxy.
    no_proxy = [os.environ.get("NO_PROXY", ""), "127.0.0.1", "localhost"]
    os.environ["NO_PROXY"] = os.environ["no_proxy"] = ",".join(p for p in no_proxy if p)


def pytest_unconfigure(config: pytest.Config) -> None:
    shutil.rmtree(config.stash.get(_HF_HOME_KEY, ""), ignore_errors=True)


@pytest.fixture(autouse=True)
def _isolated_dirs(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HF_HOME", str(tmp_path_factory.mktemp("hf-home")))
    monkeypatch.setenv("SPEEDRUN_DATA_DIR", str(tmp_path_factory.mktemp("data")))
