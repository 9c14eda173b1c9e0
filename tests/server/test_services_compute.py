"""Reading a stored manifest's compute block, calibration and telemetry summary
(server.services.compute): optional everywhere, and only finite numbers and bounded text
are taken from it."""

from __future__ import annotations

from support import machines

from server.services.compute import (
    calibration_of,
    compute_columns,
    compute_of,
    telemetry_of,
    text,
)
from speedrun.machine import finite_number as number


def test_numbers_and_text_are_read_strictly() -> None:
    assert number(3) == 3.0 and number(2.5) == 2.5
    assert number(True) is None and number("1") is None and number(float("nan")) is None
    assert text("x" * 600) == "x" * 500 and text("") is None and text(3) is None


def test_an_old_manifest_has_none_of_it() -> None:
    old = {"fingerprint": {"hardware": {"cpu_count": 2}}}
    assert compute_of(old) is None and calibration_of(old) is None and telemetry_of(old) is None
    assert compute_columns(old) == {
        "forward_flops_per_token": None,
        "training_flops": None,
        "mfu": None,
        "peak_source": None,
    }


def test_the_blocks_as_the_runner_writes_them() -> None:
    m = {
        "compute": machines.compute(),
        "telemetry": machines.telemetry(steal=0.1),
        "fingerprint": {"hardware": machines.hardware()},
    }
    c = compute_of(m)
    assert c is not None and c.training_flops == 3 * 2.5e6 * 2000 and c.accelerators == 1
    assert compute_columns(m)["mfu"] == c.mfu == c.training_flops / 5.0e10
    cal = calibration_of(m)
    assert cal is not None and cal.reference_matmul_flops_per_s == 4.0e10
    assert cal.below_reference is False
    t = telemetry_of(m)
    assert t is not None and t.cpu["mean_steal_share"] == 0.1 and t.gpu is None


def test_malformed_parts_are_left_out_not_trusted() -> None:
    m = {
        "compute": {"forward_flops_per_token": "many", "accelerators": 1.5, "mfu": True},
        "telemetry": {"cpu": "busy", "gpu": {"reasons": ["a", 3, "b" * 100]}, "conditions": 7},
        "fingerprint": {"hardware": {"calibration": {"reference": "fast", "device": ["cpu"]}}},
    }
    c = compute_of(m)
    assert c is not None and c.forward_flops_per_token is None and c.accelerators is None
    assert c.mfu is None and c.train_tokens_source == "self-reported"
    t = telemetry_of(m)
    assert t is not None and t.conditions == [] and set(t.cpu.values()) == {None}
    assert t.gpu is not None and t.gpu["reasons"] == "a, " + "b" * 60
    cal = calibration_of(m)
    assert cal is not None and cal.device is None and cal.reference_matmul_flops_per_s is None
