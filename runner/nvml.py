"""NVIDIA GPUs as the telemetry sampler (runner.telemetry) reads them, through NVML
(`nvidia-ml-py`, the `gpu` extra; imported only when a GPU track runs): SM and memory clocks,
power draw and limit, temperature and the active clock-throttle reasons of each GPU.

The reason bits are NVML's `nvmlClocksThrottleReason*` constants (nvml.h; renamed
"clocks event reasons" in newer drivers, same bits). Idle, application-clock settings, sync
boost and display clocks are reasons a clock is low, not signs of a bad machine; power caps,
thermal and hardware slowdowns are what `throttled` counts.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

REASON_BITS = {
    0x1: "gpu_idle",
    0x2: "applications_clocks_setting",
    0x4: "sw_power_cap",
    0x8: "hw_slowdown",
    0x10: "sync_boost",
    0x20: "sw_thermal_slowdown",
    0x40: "hw_thermal_slowdown",
    0x80: "hw_power_brake_slowdown",
    0x100: "display_clock_setting",
}
THROTTLING = frozenset(
    {
        "sw_power_cap",
        "hw_slowdown",
        "sw_thermal_slowdown",
        "hw_thermal_slowdown",
        "hw_power_brake_slowdown",
    }
)


class NvmlUnavailable(Exception):
    """No NVML here: the library is not installed, or no NVIDIA driver or GPU answers."""


def decode_reasons(mask: int) -> list[str]:
    """The names of the bits set in an NVML throttle-reason mask (unknown bits by value)."""
    names = [name for bit, name in REASON_BITS.items() if mask & bit]
    unknown = mask & ~sum(REASON_BITS)
    if unknown:
        names.append(f"other_0x{unknown:x}")
    return names


def is_throttled(reasons: list[str]) -> bool:
    return any(r in THROTTLING for r in reasons)


@dataclass
class NvmlSampler:
    """Open handles to the first `count` GPUs; `sample()` reads each once."""

    nvml: Any
    handles: list[Any]

    @classmethod
    def open(cls, count: int) -> NvmlSampler:
        try:
            import pynvml
        except ImportError:
            raise NvmlUnavailable(
                "nvidia-ml-py is not installed (pip install 'speedrun-leaderboard[gpu]')"
            ) from None
        try:
            pynvml.nvmlInit()
            found = pynvml.nvmlDeviceGetCount()
            handles = [pynvml.nvmlDeviceGetHandleByIndex(i) for i in range(min(count, found))]
        except pynvml.NVMLError as exc:
            raise NvmlUnavailable(f"no NVIDIA GPU answers through NVML: {exc}") from None
        if not handles:
            pynvml.nvmlShutdown()
            raise NvmlUnavailable("NVML found no NVIDIA GPU")
        return cls(pynvml, handles)

    def sample(self) -> list[dict[str, Any]]:
        return [self._read(i, h) for i, h in enumerate(self.handles)]

    def _read(self, index: int, handle: Any) -> dict[str, Any]:
        n = self.nvml
        row: dict[str, Any] = {"index": index}
        reads: dict[str, Callable[[], Any]] = {
            "sm_mhz": lambda: n.nvmlDeviceGetClockInfo(handle, n.NVML_CLOCK_SM),
            "mem_mhz": lambda: n.nvmlDeviceGetClockInfo(handle, n.NVML_CLOCK_MEM),
            "power_w": lambda: n.nvmlDeviceGetPowerUsage(handle) / 1000,
            "power_limit_w": lambda: n.nvmlDeviceGetEnforcedPowerLimit(handle) / 1000,
            "temp_c": lambda: n.nvmlDeviceGetTemperature(handle, n.NVML_TEMPERATURE_GPU),
            "reasons": lambda: decode_reasons(int(self._reason_mask(handle))),
        }
        for key, read in reads.items():
            try:
                row[key] = read()
            except n.NVMLError:
                row[key] = None  # not supported on this board
        return row

    def _reason_mask(self, handle: Any) -> int:
        n = self.nvml
        read = getattr(n, "nvmlDeviceGetCurrentClocksEventReasons", None)
        read = read or n.nvmlDeviceGetCurrentClocksThrottleReasons  # drivers before 535
        return int(read(handle))

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.nvml.nvmlShutdown()
