"""The machine conditions of a run, as the server finds them, with the figures behind each.

Which conditions hold is recomputed here from the manifest's summaries
(`speedrun.machine.machine_conditions`, the same torch-free rules the runner applies), never
taken from the runner's own list alone: a re-verification verdict that blames the machine
must rest on figures the server read itself. Each condition comes back with its figures
(from the telemetry summary or the calibration) and a sentence a page can show.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from server.schemas.compute import ConditionPublic
from server.services.compute import calibration_of, telemetry_of
from speedrun.machine import (
    as_mapping,
    device_name,
    machine_conditions,
    reference_for,
    track_machine,
)

LABELS = {
    "below_calibration": "machine below its calibration",
    "cpu_steal": "CPU time stolen by the hypervisor",
    "cpu_load": "host CPUs overloaded",
    "cpu_throttled": "container CPU throttled",
    "gpu_throttled": "GPU throttled",
}
Figures = dict[str, float | str | None]


def _pct(share: float | str | None) -> str:
    return f"{share * 100:.0f}%" if isinstance(share, float) else "?"


def _g(value: float | str | None, unit: str = "") -> str:
    return f"{value:.4g}{unit}" if isinstance(value, float) else "?"


def _si(value: float, unit: str) -> str:
    """`40 GFLOP/s`, `8 GB/s` (the pages' formatting, for text stored with a verdict)."""
    for div, prefix in ((1e15, "P"), (1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "k")):
        if value >= div:
            return f"{value / div:.3g} {prefix}{unit}"
    return f"{value:.3g} {unit}"


def _calibration(manifest: Mapping[str, Any]) -> tuple[Figures, str]:
    """The probe's figures beside the reference the server judged them by: the track's, for
    the device the fingerprint names (`speedrun.machine`), not the one the manifest quotes."""
    cal = calibration_of(manifest)
    if cal is None:
        return {}, "no calibration figures"
    machine = track_machine(manifest.get("track"))
    hardware = as_mapping(as_mapping(manifest.get("fingerprint")).get("hardware"))
    ref = reference_for(machine, device_name(hardware, as_mapping(hardware.get("calibration"))))
    ref_matmul = ref.matmul_flops_per_s if ref else None
    ref_memory = ref.memory_bytes_per_s if ref else None
    figures: Figures = {
        "matmul_flops_per_s": cal.matmul_flops_per_s,
        "reference_matmul_flops_per_s": ref_matmul,
        "memory_bytes_per_s": cal.memory_bytes_per_s,
        "reference_memory_bytes_per_s": ref_memory,
        "tolerance": machine.calibration_tolerance,
    }
    parts = []
    for what, unit, mine, ref_value in (
        ("matmul", "FLOP/s", cal.matmul_flops_per_s, ref_matmul),
        ("memory", "B/s", cal.memory_bytes_per_s, ref_memory),
    ):
        if mine is not None and ref_value:
            ratio = f"{mine / ref_value:.0%}"
            parts.append(f"{what} {_si(mine, unit)} vs reference {_si(ref_value, unit)} ({ratio})")
    tolerance = f" (tolerance {_pct(machine.calibration_tolerance)} below)"
    return figures, "; ".join(parts or ["calibration below the track's reference"]) + tolerance


def _cpu(manifest: Mapping[str, Any]) -> Figures:
    t = telemetry_of(manifest)
    return dict(t.cpu) if t is not None else {}


def _gpu(manifest: Mapping[str, Any]) -> Figures:
    t = telemetry_of(manifest)
    return dict(t.gpu) if t is not None and t.gpu is not None else {}


def _steal(f: Figures) -> str:
    return f"mean steal {_pct(f.get('mean_steal_share'))} of CPU time"


def _load(f: Figures) -> str:
    running = f.get("mean_running")
    tasks = f", {_g(running)} runnable tasks" if isinstance(running, float) else ""
    return (
        f"mean load {_g(f.get('mean_load1'))} (max {_g(f.get('max_load1'))}){tasks} "
        f"on {_g(f.get('cpus'))} CPUs"
    )


def _cpu_throttle(f: Figures) -> str:
    usec = f.get("throttled_usec")
    seconds = f" ({_g(usec / 1e6, ' s')} in all)" if isinstance(usec, float) else ""
    return (
        f"throttled in {_pct(f.get('throttled_share'))} of samples{seconds}, "
        f"lowest frequency {_g(f.get('min_freq_mhz'), ' MHz')}"
    )


def _gpu_throttle(f: Figures) -> str:
    reasons = f.get("reasons") or "not named"
    return (
        f"throttled in {_pct(f.get('throttled_share'))} of samples (reasons: {reasons}), "
        f"lowest SM clock {_g(f.get('min_sm_clock_mhz'), ' MHz')}, "
        f"hottest {_g(f.get('max_temperature_c'), ' °C')}, "
        f"mean power {_g(f.get('mean_power_w'))} of {_g(f.get('power_limit_w'), ' W')}"
    )


_TELEMETRY: dict[str, tuple[Callable[[Mapping[str, Any]], Figures], Callable[[Figures], str]]] = {
    "cpu_steal": (_cpu, _steal),
    "cpu_load": (_cpu, _load),
    "cpu_throttled": (_cpu, _cpu_throttle),
    "gpu_throttled": (_gpu, _gpu_throttle),
}


def describe(name: str, manifest: Mapping[str, Any], run_id: str | None = None) -> ConditionPublic:
    if name == "below_calibration":
        figures, detail = _calibration(manifest)
    elif name in _TELEMETRY:
        read, say = _TELEMETRY[name]
        figures = read(manifest)
        detail = say(figures)
    else:  # a condition this server does not know how to word yet
        figures, detail = {}, "see the run's telemetry"
    label = LABELS.get(name, name)
    return ConditionPublic(name=name, detail=f"{label}: {detail}", figures=figures, run_id=run_id)


def run_conditions(manifest: Mapping[str, Any], run_id: str | None = None) -> list[ConditionPublic]:
    """The conditions the server finds in a manifest (empty for a healthy machine, and for
    manifests without calibration or telemetry)."""
    return [describe(n, manifest, run_id) for n in machine_conditions(manifest)]
