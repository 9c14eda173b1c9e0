"""runner.probe: the software fingerprint of an interpreter, as `python -m runner.probe`
prints it (one JSON object), and what it says where torch is missing."""

from __future__ import annotations

import json
import platform
import subprocess
import sys

import numpy
import pytest

from runner import probe


@pytest.mark.slow  # imports torch in a process of its own: a few seconds
def test_the_module_prints_one_json_object_about_its_interpreter() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "runner.probe"],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    ).stdout
    info = json.loads(out)
    assert out.count("\n") == 1
    assert info["python"] == platform.python_version()
    assert info["numpy"] == numpy.__version__
    torch = pytest.importorskip("torch")
    assert info["torch"] == torch.__version__
    assert info["cuda_available"] == torch.cuda.is_available()
    assert isinstance(info["torch_threads"], int) and info["torch_threads"] >= 1


def test_without_torch_the_probe_says_so_and_stops(monkeypatch: pytest.MonkeyPatch) -> None:
    def no_torch() -> None:
        raise ImportError("No module named 'torch'")

    monkeypatch.setattr(probe, "_torch", no_torch)
    info = probe.software()
    assert info["torch"] is None and "cuda" not in info
    assert info["python"] == platform.python_version() and info["libc"]
