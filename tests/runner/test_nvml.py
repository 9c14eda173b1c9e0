"""NVML's throttle-reason bits as names, which of them count as throttling, and a clear answer
where no NVIDIA GPU is: the real nvidia-ml-py library, on a machine without a driver, or its
absence (the `gpu` extra not installed)."""

from __future__ import annotations

import builtins
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from runner.nvml import (
    REASON_BITS,
    THROTTLING,
    NvmlSampler,
    NvmlUnavailable,
    decode_reasons,
    is_throttled,
)


def test_reason_bits_are_nvmls() -> None:
    pynvml = pytest.importorskip("pynvml")
    constants = {
        "gpu_idle": "nvmlClocksThrottleReasonGpuIdle",
        "applications_clocks_setting": "nvmlClocksThrottleReasonApplicationsClocksSetting",
        "sw_power_cap": "nvmlClocksThrottleReasonSwPowerCap",
        "hw_slowdown": "nvmlClocksThrottleReasonHwSlowdown",
        "sync_boost": "nvmlClocksThrottleReasonSyncBoost",
        "sw_thermal_slowdown": "nvmlClocksThrottleReasonSwThermalSlowdown",
        "hw_thermal_slowdown": "nvmlClocksThrottleReasonHwThermalSlowdown",
        "hw_power_brake_slowdown": "nvmlClocksThrottleReasonHwPowerBrakeSlowdown",
        "display_clock_setting": "nvmlClocksThrottleReasonDisplayClockSetting",
    }
    assert {bit: name for bit, name in REASON_BITS.items()} == {
        getattr(pynvml, const): name for name, const in constants.items()
    }


def test_decoding_a_mask() -> None:
    assert decode_reasons(0) == []
    assert decode_reasons(0x1) == ["gpu_idle"]
    assert decode_reasons(0x4 | 0x40) == ["sw_power_cap", "hw_thermal_slowdown"]
    assert decode_reasons(0x4 | 0x10000) == ["sw_power_cap", "other_0x10000"]


def test_idle_and_settings_are_not_throttling() -> None:
    assert not is_throttled(["gpu_idle", "applications_clocks_setting", "sync_boost"])
    assert not is_throttled(["display_clock_setting", "other_0x400"])
    for reason in THROTTLING:
        assert is_throttled(["gpu_idle", reason])


def test_no_gpu_is_a_clear_answer_and_a_gpu_is_read() -> None:
    try:
        sampler = NvmlSampler.open(1)
    except NvmlUnavailable as exc:
        assert "NVIDIA" in str(exc) or "nvidia-ml-py" in str(exc)
        return
    try:  # a machine with a GPU and its driver (benchmarks/gpu_telemetry_check.py reads more)
        (row,) = sampler.sample()
        assert row["index"] == 0 and isinstance(row["reasons"], list)
    finally:
        sampler.close()


def test_without_the_library_the_extra_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    real_import = builtins.__import__

    def no_pynvml(name: str, *args: Any, **kwargs: Any) -> Any:
        if name == "pynvml":
            raise ImportError(name)
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_pynvml)
    with pytest.raises(NvmlUnavailable, match=r"speedrun-leaderboard\[gpu\]"):
        NvmlSampler.open(1)


def test_the_prepared_gpu_check_says_no_gpu_and_measures_nothing() -> None:
    """benchmarks/gpu_telemetry_check.py, the GPU check of the sampler and the calibration,
    exits cleanly where no NVIDIA GPU answers."""
    try:
        NvmlSampler.open(1).close()
        pytest.skip("this machine has an NVIDIA GPU: run the script itself")
    except NvmlUnavailable:
        pass
    script = Path(__file__).resolve().parents[2] / "benchmarks" / "gpu_telemetry_check.py"
    out = subprocess.run(
        [sys.executable, str(script), "--json"], capture_output=True, text=True, timeout=60
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith("no NVIDIA GPU: ") and "nothing measured" in out.stdout
    assert "torch" not in out.stderr  # it stopped before importing torch
