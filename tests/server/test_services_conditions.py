"""The machine conditions the server finds in a manifest (server.services.conditions), each
with its figures and a sentence: recomputed by speedrun.machine from the summaries against
the track's thresholds, never the runner's list alone."""

from __future__ import annotations

from typing import Any

from support import machines

from server.services.conditions import describe, run_conditions

TRACK = {"id": "cpu-tiny", "version": 2}


def _manifest(**parts: Any) -> dict[str, Any]:
    hardware = parts.pop("hardware", machines.hardware())
    return {"track": TRACK, "fingerprint": {"hardware": hardware}, **parts}


def test_a_healthy_machine_and_an_old_manifest_have_none() -> None:
    assert run_conditions(_manifest(telemetry=machines.telemetry())) == []
    assert run_conditions({"fingerprint": {"hardware": {}}}) == []


def test_the_runners_list_alone_finds_nothing() -> None:
    claimed = machines.telemetry(conditions=["cpu_steal", "gpu_throttled"])
    assert run_conditions(_manifest(telemetry=claimed)) == []


def test_each_cpu_condition_with_its_figures() -> None:
    t = machines.telemetry(steal=0.3, load1=9.0, throttled=0.4)
    found = {c.name: c for c in run_conditions(_manifest(telemetry=t), "run-1")}
    assert list(found) == ["cpu_steal", "cpu_load", "cpu_throttled"]
    assert found["cpu_steal"].detail == (
        "CPU time stolen by the hypervisor: mean steal 30% of CPU time"
    )
    assert found["cpu_load"].detail == "host CPUs overloaded: mean load 9 (max 13.5) on 2 CPUs"
    assert found["cpu_throttled"].figures["throttled_share"] == 0.4
    assert "throttled in 40% of samples (24 s in all)" in found["cpu_throttled"].detail
    assert {c.run_id for c in found.values()} == {"run-1"}


def test_below_calibration_against_the_tracks_reference_not_the_manifests() -> None:
    cal = machines.calibration(matmul=1.0e10)
    cal["reference"] = {"matmul_flops_per_s": 1.0e9, "memory_bytes_per_s": 1.0e9}  # a lie
    [found] = run_conditions(_manifest(hardware=machines.hardware(cal=cal)))
    assert found.name == "below_calibration"
    assert found.figures["reference_matmul_flops_per_s"] == 4.0e10
    assert found.detail == (
        "machine below its calibration: matmul 10 GFLOP/s vs reference 40 GFLOP/s (25%); "
        "memory 12 GB/s vs reference 8 GB/s (150%) (tolerance 50% below)"
    )


def test_gpu_throttling_and_unknown_names() -> None:
    t = machines.telemetry()
    t["gpu"] = {
        "count": 8,
        "min_sm_clock_mhz": 1110.0,
        "max_temperature_c": 88.0,
        "mean_power_w": 600.0,
        "power_limit_w": 700.0,
        "throttled_share": 0.25,
        "reasons": ["sw_thermal_slowdown"],
    }
    [found] = run_conditions(_manifest(telemetry=t))
    assert found.detail == (
        "GPU throttled: throttled in 25% of samples (reasons: sw_thermal_slowdown), lowest SM "
        "clock 1110 MHz, hottest 88 °C, mean power 600 of 700 W"
    )
    odd = describe("fan_noise", {})
    assert odd.detail == "fan_noise: see the run's telemetry" and odd.figures == {}
