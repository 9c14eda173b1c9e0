"""The calibration probe, run for real (fp32 matmuls and a large copy on this CPU): figures
in a plausible range, the slowest device's figures up front, the CLI's JSON, and a clear exit
where no CUDA device is."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from runner import calibrate

pytest.importorskip("torch")


def test_cpu_figures_are_measured() -> None:
    result = calibrate.calibrate("cpu", threads=1, seconds=0.1)
    assert result["device"] == "cpu" and result["threads"] == 1
    assert result["matmul"] == {"n": 1024, "dtype": "float32"}
    # any x86-64 or arm64 core of the last decade: 1 GFLOPS to 1 TFLOPS fp32; copies of
    # 256 MiB at 0.5 GB/s to 1 TB/s (bytes read + written)
    assert 1e9 < result["matmul_flops_per_s"] < 1e12
    assert 5e8 < result["memory_bytes_per_s"] < 1e12
    assert 0.1 < result["seconds"] < 30


@pytest.mark.slow  # a fresh interpreter imports torch
def test_the_cli_prints_one_json_object() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "runner.calibrate", "--device", "cpu", "--seconds", "0.1"],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    (line,) = out.stdout.strip().splitlines()
    assert json.loads(line)["matmul_flops_per_s"] > 0


def test_no_cuda_device_is_a_clear_exit(capsys: pytest.CaptureFixture[str]) -> None:
    torch = pytest.importorskip("torch")
    if torch.cuda.is_available():
        pytest.skip("this machine has a CUDA device")
    assert calibrate.main(["--device", "cuda"]) == 2
    out, err = capsys.readouterr()
    assert "no CUDA device" in err and out == ""


@pytest.mark.parametrize("seconds", ["0", "-1", "31", "nan"])
def test_bad_durations_are_refused(seconds: str) -> None:
    with pytest.raises(SystemExit) as exc:
        calibrate.main(["--device", "cpu", "--seconds", seconds])
    assert exc.value.code == 2
