"""Running totals of the telemetry samples (runner.telemetry), kept over every sample taken
(the member may hold only every n-th), and the manifest summary they give: means and extremes
of load, CPU time shares and clocks, the share of samples in which the attempt's cgroup was
throttled, and per GPU track the lowest SM clock, hottest reading, mean power and the share
of samples with an active throttle reason (runner.nvml.THROTTLING)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from runner.nvml import is_throttled


def _number(value: Any) -> float | None:
    ok = isinstance(value, int | float) and not isinstance(value, bool)
    return float(value) if ok else None


@dataclass
class CpuTotals:
    samples: int = 0
    load_sum: float = 0.0
    load_max: float = 0.0
    running_sum: float = 0.0
    share_samples: int = 0
    busy_sum: float = 0.0
    steal_sum: float = 0.0
    iowait_sum: float = 0.0
    min_freq_mhz: float | None = None
    throttle_readings: int = 0  # samples with a cgroup reading after the first one
    throttled_samples: int = 0  # ... in which nr_throttled grew
    first_usec: int | None = None
    last_usec: int | None = None
    last_nr: int | None = None

    def add(self, row: dict[str, Any]) -> None:
        load, running = _number(row.get("load1")), _number(row.get("running"))
        if load is not None and running is not None:
            self.samples += 1
            self.load_sum += load
            self.load_max = max(self.load_max, load)
            self.running_sum += running
        if _number(row.get("busy")) is not None:
            self.share_samples += 1
            self.busy_sum += row["busy"]
            self.steal_sum += row.get("steal", 0.0)
            self.iowait_sum += row.get("iowait", 0.0)
        freq = _number(row.get("freq_mhz"))
        if freq is not None:
            self.min_freq_mhz = freq if self.min_freq_mhz is None else min(self.min_freq_mhz, freq)
        self._add_throttling(row.get("nr_throttled"), row.get("throttled_usec"))

    def _add_throttling(self, nr: Any, usec: Any) -> None:
        if not isinstance(nr, int) or not isinstance(usec, int):
            return
        if self.last_nr is not None:
            self.throttle_readings += 1
            self.throttled_samples += nr > self.last_nr
        self.last_nr = nr
        self.first_usec = usec if self.first_usec is None else self.first_usec
        self.last_usec = usec

    def summary(self, cpus: int) -> dict[str, Any] | None:
        if not self.samples:
            return None
        n, k = self.samples, max(1, self.share_samples)
        throttled = self.throttle_readings > 0
        return {
            "cpus": cpus,
            "mean_load1": round(self.load_sum / n, 4),
            "max_load1": self.load_max,
            "mean_running": round(self.running_sum / n, 4),
            "mean_steal_share": round(self.steal_sum / k, 5),
            "mean_iowait_share": round(self.iowait_sum / k, 5),
            "mean_busy_share": round(self.busy_sum / k, 5),
            "min_freq_mhz": self.min_freq_mhz,
            "throttled_share": (
                round(self.throttled_samples / self.throttle_readings, 4) if throttled else None
            ),
            "throttled_usec": (
                self.last_usec - self.first_usec
                if self.first_usec is not None and self.last_usec is not None
                else None
            ),
        }


@dataclass
class GpuTotals:
    samples: int = 0
    count: int = 0
    min_sm_mhz: float | None = None
    max_temp_c: float | None = None
    power_sum: float = 0.0
    power_readings: int = 0
    power_limit_w: float | None = None
    throttled_samples: int = 0
    reasons: set[str] = field(default_factory=set)

    def add(self, gpus: list[dict[str, Any]]) -> None:
        if not gpus:
            return
        self.samples += 1
        self.count = max(self.count, len(gpus))
        throttled = False
        for gpu in gpus:
            sm, temp = _number(gpu.get("sm_mhz")), _number(gpu.get("temp_c"))
            power, limit = _number(gpu.get("power_w")), _number(gpu.get("power_limit_w"))
            if sm is not None:
                self.min_sm_mhz = sm if self.min_sm_mhz is None else min(self.min_sm_mhz, sm)
            if temp is not None:
                self.max_temp_c = temp if self.max_temp_c is None else max(self.max_temp_c, temp)
            if power is not None:
                self.power_sum += power
                self.power_readings += 1
            if limit is not None:
                self.power_limit_w = min(self.power_limit_w or limit, limit)
            reasons = [r for r in gpu.get("reasons") or [] if isinstance(r, str)]
            self.reasons.update(reasons)
            throttled = throttled or is_throttled(reasons)
        self.throttled_samples += throttled

    def summary(self) -> dict[str, Any] | None:
        if not self.samples:
            return None
        return {
            "count": self.count,
            "min_sm_clock_mhz": self.min_sm_mhz if self.min_sm_mhz is not None else 0.0,
            "max_temperature_c": self.max_temp_c if self.max_temp_c is not None else 0.0,
            "mean_power_w": round(self.power_sum / max(1, self.power_readings), 2),
            "power_limit_w": self.power_limit_w if self.power_limit_w is not None else 0.0,
            "throttled_share": round(self.throttled_samples / self.samples, 4),
            "reasons": sorted(self.reasons),
        }
