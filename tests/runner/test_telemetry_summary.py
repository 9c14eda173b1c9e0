"""The telemetry summary from sample rows: means over every sample, the share of samples in
which the cgroup's throttle counter grew, GPU extremes and throttle reasons; rows with missing
or malformed readings leave gaps rather than errors."""

from __future__ import annotations

from typing import Any

from runner.telemetry_summary import CpuTotals, GpuTotals


def rows() -> list[dict[str, Any]]:
    return [
        {"load1": 1.0, "running": 3, "freq_mhz": 2600.0, "nr_throttled": 10, "throttled_usec": 100},
        {"load1": 3.0, "running": 5, "busy": 0.9, "steal": 0.1, "iowait": 0.0,
         "freq_mhz": 2400.0, "nr_throttled": 10, "throttled_usec": 100},
        {"load1": 2.0, "running": 4, "busy": 0.7, "steal": 0.3, "iowait": 0.2,
         "nr_throttled": 15, "throttled_usec": 900},
    ]  # fmt: skip


def test_cpu_summary() -> None:
    totals = CpuTotals()
    for row in rows():
        totals.add(row)
    s = totals.summary(cpus=2)
    assert s is not None
    assert s["cpus"] == 2 and s["mean_load1"] == 2.0 and s["max_load1"] == 3.0
    assert s["mean_running"] == 4.0
    assert s["mean_busy_share"] == 0.8 and s["mean_steal_share"] == 0.2
    assert s["mean_iowait_share"] == 0.1
    assert s["min_freq_mhz"] == 2400.0
    # two readings after the first; the counter grew in one of them
    assert s["throttled_share"] == 0.5 and s["throttled_usec"] == 800


def test_no_cgroup_means_unknown_throttling_not_zero() -> None:
    totals = CpuTotals()
    for row in rows():
        totals.add({k: v for k, v in row.items() if "throttled" not in k})
    s = totals.summary(cpus=2)
    assert s is not None and s["throttled_share"] is None and s["throttled_usec"] is None


def test_malformed_rows_are_gaps() -> None:
    totals = CpuTotals()
    totals.add({"load1": "high", "running": 2, "busy": None, "freq_mhz": True})
    assert totals.summary(cpus=2) is None  # no usable sample
    totals.add({"load1": 1.5, "running": 2, "nr_throttled": "7", "throttled_usec": 5})
    s = totals.summary(cpus=2)
    assert s is not None and s["mean_load1"] == 1.5 and s["throttled_share"] is None


def gpu(sm: float, temp: float, power: float, reasons: list[str]) -> dict[str, Any]:
    return {"sm_mhz": sm, "mem_mhz": 2619, "power_w": power, "power_limit_w": 700.0,
            "temp_c": temp, "reasons": reasons}  # fmt: skip


def test_gpu_summary() -> None:
    totals = GpuTotals()
    totals.add([gpu(1980, 60, 650, []), gpu(1980, 62, 640, ["gpu_idle"])])
    totals.add([gpu(1755, 71, 700, ["sw_power_cap"]), gpu(1980, 63, 600, [])])
    totals.add([gpu(1980, 65, 690, []), gpu(1980, 64, 610, [])])
    s = totals.summary()
    assert s == {
        "count": 2,
        "min_sm_clock_mhz": 1755,
        "max_temperature_c": 71,
        "mean_power_w": 648.33,
        "power_limit_w": 700.0,
        "throttled_share": round(1 / 3, 4),  # idle is not throttling; the power cap is
        "reasons": ["gpu_idle", "sw_power_cap"],
    }


def test_gpu_readings_a_board_does_not_support() -> None:
    totals = GpuTotals()
    assert totals.summary() is None
    totals.add([])
    assert totals.summary() is None
    totals.add([{"sm_mhz": None, "temp_c": None, "power_w": None, "reasons": None}])
    s = totals.summary()
    assert s is not None and s["count"] == 1 and s["throttled_share"] == 0.0
    assert s["min_sm_clock_mhz"] == 0.0 and s["reasons"] == []
