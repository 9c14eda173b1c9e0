"""Machine conditions recomputed from a manifest's own figures and its track's thresholds: the
runner's list is never read, unknown tracks fall back to the documented defaults, and hostile
values are no evidence rather than an error."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from speedrun.machine import (
    CONDITIONS,
    calibration_below,
    extra_load,
    machine_conditions,
    peak_for,
    reference_for,
    track_machine,
)
from speedrun.tracks import Machine, get_track

TINY = get_track("cpu-tiny")
REF = TINY.machine.references[0]


def manifest(**over: Any) -> dict[str, Any]:
    """A cpu-tiny manifest's machine parts at the reference figures, on a quiet 2-core host."""
    m: dict[str, Any] = {
        "track": {"id": "cpu-tiny", "version": TINY.version},
        "fingerprint": {
            "hardware": {
                "cpu_model": "AMD EPYC",
                "calibration": {
                    "device": "cpu",
                    "matmul_flops_per_s": REF.matmul_flops_per_s,
                    "memory_bytes_per_s": REF.memory_bytes_per_s,
                    "seconds": 2.0,
                },
            }
        },
        "telemetry": {
            "cpu": {
                "cpus": 2,
                "mean_load1": 2.1,
                "mean_running": 3.0,
                "mean_steal_share": 0.0,
                "throttled_share": 0.0,
            },
            "gpu": None,
            "conditions": [],
        },
    }
    for path, value in over.items():
        *parents, leaf = path.split("__")
        node = m
        for key in parents:
            node = node[key]
        node[leaf] = value
    return m


def test_a_quiet_machine_at_the_reference_has_no_condition() -> None:
    assert machine_conditions(manifest()) == []


def test_a_calibration_beyond_the_tolerance_below_the_reference_is_marked() -> None:
    tol = TINY.machine.calibration_tolerance
    just_inside = REF.matmul_flops_per_s * (1 - tol) * 1.01
    just_below = REF.matmul_flops_per_s * (1 - tol) * 0.99
    key = "fingerprint__hardware__calibration__matmul_flops_per_s"
    assert machine_conditions(manifest(**{key: just_inside})) == []
    assert machine_conditions(manifest(**{key: just_below})) == ["below_calibration"]
    slow_memory = {"fingerprint__hardware__calibration__memory_bytes_per_s": 1.0}
    assert machine_conditions(manifest(**slow_memory)) == ["below_calibration"]


@pytest.mark.parametrize(
    ("path", "value", "condition"),
    [
        ("telemetry__cpu__mean_steal_share", 0.2, "cpu_steal"),
        # beyond the attempt's 2 processes: (4.5 - 2) / 2 CPUs = 1.25 > 1.0
        ("telemetry__cpu__mean_load1", 4.5, "cpu_load"),
        ("telemetry__cpu__mean_running", 5.5, "cpu_load"),  # less the sampler: 4.5 too
        ("telemetry__cpu__throttled_share", 0.5, "cpu_throttled"),
        ("telemetry__gpu", {"count": 1, "throttled_share": 0.4}, "gpu_throttled"),
    ],
)
def test_each_telemetry_condition_by_the_tracks_threshold(
    path: str, value: Any, condition: str
) -> None:
    assert machine_conditions(manifest(**{path: value})) == [condition]


def test_the_attempts_own_processes_and_the_sampler_are_not_load() -> None:
    # 2 busy processes of the attempt, the sampler reading: a fully used 2-core host
    assert machine_conditions(manifest(telemetry__cpu__mean_running=3.0)) == []
    assert machine_conditions(manifest(telemetry__cpu__mean_load1=3.9)) == []
    assert extra_load({"mean_load1": 3.0, "mean_running": 6.0}, 2) == 3.0
    assert extra_load({"mean_load1": 1.0}, 2) == 0.0
    # an unknown track has no processes of its own to discount
    m = manifest(track={"id": "gone", "version": 9}, telemetry__cpu__mean_load1=2.5)
    assert machine_conditions(m) == ["cpu_load"]


def test_the_runners_own_list_is_not_trusted() -> None:
    m = manifest(telemetry__conditions=["cpu_steal", "gpu_throttled"])
    assert machine_conditions(m) == []
    m = manifest(telemetry__cpu__mean_steal_share=0.3, telemetry__conditions=[])
    assert machine_conditions(m) == ["cpu_steal"]


def test_conditions_come_in_one_order() -> None:
    m = manifest(
        telemetry__cpu__throttled_share=0.9,
        telemetry__cpu__mean_steal_share=0.9,
        fingerprint__hardware__calibration__matmul_flops_per_s=1.0,
    )
    assert machine_conditions(m) == ["below_calibration", "cpu_steal", "cpu_throttled"]
    assert set(machine_conditions(m)) <= set(CONDITIONS)


def test_an_unknown_track_uses_the_documented_defaults() -> None:
    m = manifest(track={"id": "no-such-track", "version": 1})
    m["fingerprint"]["hardware"]["calibration"]["matmul_flops_per_s"] = 1.0
    assert track_machine(m["track"]) == Machine()
    m["telemetry"]["cpu"] |= {"mean_load1": 0.5, "mean_running": 1.0}  # no own processes
    # no reference to compare with, but the default thresholds still apply
    assert machine_conditions(m) == []
    m["telemetry"]["cpu"]["mean_steal_share"] = Machine().steal_share + 0.01
    assert machine_conditions(m) == ["cpu_steal"]


@pytest.mark.parametrize(
    "hostile",
    [
        {},
        {"track": "cpu-tiny", "fingerprint": [], "telemetry": "x"},
        {"track": {"id": "cpu-tiny", "version": True}},
        {"track": {"id": ["x"], "version": 2}},
    ],
)
def test_malformed_manifests_are_no_evidence(hostile: dict[str, Any]) -> None:
    assert machine_conditions(hostile) == []


@pytest.mark.parametrize("bad", ["1e99", True, None, float("nan"), float("inf"), [0.9], {"x": 1}])
def test_malformed_figures_are_no_evidence(bad: Any) -> None:
    m = manifest()
    m["telemetry"]["cpu"] |= {"mean_steal_share": bad, "mean_load1": bad, "mean_running": bad}
    m["telemetry"]["cpu"]["throttled_share"] = bad
    m["fingerprint"]["hardware"]["calibration"]["matmul_flops_per_s"] = bad
    before = copy.deepcopy(m)
    assert machine_conditions(m) == []
    assert m == before  # read only


def test_cpus_of_zero_or_missing_mark_no_load() -> None:
    for cpus in (0, None, -2):
        assert "cpu_load" not in machine_conditions(
            manifest(telemetry__cpu__cpus=cpus, telemetry__cpu__mean_load1=99)
        )


def test_gpu_references_and_peaks_match_the_most_specific_model_first() -> None:
    one = get_track("gpt2-124m-1xgpu").machine
    pcie, sxm = peak_for(one, "NVIDIA H100 PCIe"), peak_for(one, "NVIDIA H100 80GB HBM3")
    assert pcie is not None and pcie.flops_per_s == 756.5e12
    assert sxm is not None and sxm.flops_per_s == 989.4e12 and "datasheet" in sxm.source
    nvl = peak_for(one, "NVIDIA H200 NVL")
    assert nvl is not None and nvl.flops_per_s == 835.5e12
    assert peak_for(one, "Tesla T4") is None  # no vendor figure in the table: no MFU
    ref = reference_for(one, "NVIDIA H100 PCIe")
    assert ref is not None and ref.model == "H100 PCIe"
    assert reference_for(get_track("cpu-tiny").machine, "any CPU at all") == REF


def test_a_gpu_calibration_is_judged_against_its_models_reference() -> None:
    track = get_track("gpt2-124m-8xh100")
    m = {
        "track": {"id": track.id, "version": track.version},
        "fingerprint": {
            "hardware": {
                "gpu_model": "NVIDIA H100 80GB HBM3",
                "calibration": {
                    "device": "cuda",
                    "matmul_flops_per_s": 3.0e14,  # half the H100 reference: beyond 20%
                    "memory_bytes_per_s": 2.9e12,
                },
            }
        },
    }
    assert machine_conditions(m) == ["below_calibration"]
    m["fingerprint"]["hardware"]["gpu_model"] = "Tesla T4"  # no reference for it
    assert machine_conditions(m) == []


def test_calibration_below_needs_a_reference() -> None:
    assert not calibration_below({"matmul_flops_per_s": 1.0}, None, 0.5)
    assert calibration_below({"matmul_flops_per_s": 1.0}, REF, 0.5)


def test_brief_throttling_in_many_samples_is_no_condition() -> None:
    # A quiet make-demo run on cpu-tiny (2026-12-02): throttled in 30% of its 95 samples,
    # 0.039 s in all -- a quota equal to the host's cores clips bursts now and then.
    quiet = {"telemetry__samples": 95, "telemetry__interval_s": 1.0}
    m = manifest(**quiet, telemetry__cpu__throttled_share=0.3011)
    m["telemetry"]["cpu"]["throttled_usec"] = 38_523
    assert machine_conditions(m) == []
    # the same share of samples with 10 s of the 95 spent throttled is a condition
    m["telemetry"]["cpu"]["throttled_usec"] = 10_000_000
    assert machine_conditions(m) == ["cpu_throttled"]
    # a hostile or missing duration leaves the share of samples to decide
    m["telemetry"]["cpu"]["throttled_usec"] = 38_523
    m["telemetry"]["interval_s"] = float("nan")
    assert machine_conditions(m) == ["cpu_throttled"]
