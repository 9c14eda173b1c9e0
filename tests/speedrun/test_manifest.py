"""`speedrun.bundle.verify_bundle` answers one typed `Verified`: the manifest as
`speedrun.manifest.Manifest` (built after the JSON Schema check), the track it ran on and the
warnings. The typed view must say what the JSON says, and the rules read from it must judge as
they did on the JSON (absent and null differ for `independent_val_loss`)."""

from __future__ import annotations

import json

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from support.bundles import LOSS, TRACK, make_bundle, manifest

from speedrun.bundle import Verified, read_bundle, verify_bundle
from speedrun.errors import BundleInvalid
from speedrun.manifest import AbSide, JobRef, Manifest
from speedrun.tracks import get_track

KEY = Ed25519PrivateKey.generate()


def verified(**fields: object) -> Verified:
    return verify_bundle(read_bundle(make_bundle(KEY, **fields)))


def test_the_verdict_holds_the_typed_manifest_its_track_and_warnings() -> None:
    job = {"id": 7, "nonce": "ab" * 16}
    ab = {"session_id": "s1", "role": "candidate", "pair_index": 2, "extra": "kept raw"}
    v = verified(job=job, ab=ab, backend="local")
    m, raw = v.manifest, v.bundle.manifest
    assert isinstance(m, Manifest) and m.raw is raw
    assert v.track is get_track(TRACK, raw["track"]["version"])
    assert (m.track.id, m.track.version) == (raw["track"]["id"], raw["track"]["version"])
    assert m.run_id == raw["run_id"] and m.backend == "local" and m.seed == 0
    assert m.exit.status == "completed" and m.exit.reason is None
    assert m.figures.val_loss == LOSS and m.figures.val_loss_source == "independently-evaluated"
    assert m.figures.has_independent_val_loss and m.figures.independent_val_loss == LOSS
    assert m.variant.path == "train_gpt.py" and m.variant.harness and m.variant.name == "variant"
    assert set(m.members) == set(raw["members"]) == {"train_gpt.py", "log.txt"}
    assert m.members["log.txt"].size_bytes == raw["members"]["log.txt"]["size_bytes"]
    assert m.job == JobRef(7, "ab" * 16)
    assert m.ab == AbSide("s1", "candidate", 2)
    assert m.fingerprint.image is not None and m.fingerprint.image.digest == "sha256:" + "ab" * 32
    assert m.fingerprint.hardware == {"cpu_count": 2}
    assert m.runner.key_id == v.key_id and m.signature.key_id == v.key_id
    assert m.timing is not None and m.timing.problems == () and m.timing.cap_exceeded is False
    assert m.evaluation is not None and m.evaluation.val_loss == LOSS
    assert not v.trusted
    assert any("does not count toward records" in w for w in v.warnings)


def test_a_null_independent_loss_differs_from_an_absent_one() -> None:
    m = manifest()
    del m["figures"]["independent_val_loss"]
    assert not verified(m=m).manifest.figures.has_independent_val_loss  # absent: no check
    m = json.loads(json.dumps(manifest()))
    m["figures"]["independent_val_loss"] = None
    with pytest.raises(BundleInvalid, match="independent_val_loss differs"):
        verified(m=m)


def test_an_unknown_track_is_refused_after_the_schema_and_members() -> None:
    m = manifest()
    m["track"] = {"id": "no-such-track", "version": 1}
    with pytest.raises(BundleInvalid) as err:
        verified(m=m)
    assert err.value.code == "unknown-track"


# --- issue 17: compute, calibration and telemetry, typed; old bundles without them verify

COMPUTE = {
    "forward_flops_per_token": 2_162_688.0,
    "flops_method": "torch.utils.flop_counter.FlopCounterMode over the exported program",
    "train_tokens": 655_360,
    "train_tokens_source": "self-reported",
    "train_tokens_within_ceiling": True,
    "training_flops": 3 * 2_162_688.0 * 655_360,
    "accelerators": 2,
    "peak_flops_per_accelerator": 2e10,
    "peak_source": "calibration",
    "mfu": 0.12,
}
CALIBRATION = {
    "device": "cpu",
    "matmul_flops_per_s": 4.2e10,
    "memory_bytes_per_s": 9e9,
    "seconds": 2.4,
    "reference": {"matmul_flops_per_s": 4e10, "memory_bytes_per_s": 8e9},
    "tolerance": 0.5,
    "below_reference": False,
    "threads": 2,  # fields beyond the contract are kept in the raw document
}
TELEMETRY = {
    "member": "telemetry.jsonl",
    "samples": 12,
    "interval_s": 1.0,
    "cpu": {
        "cpus": 2,
        "mean_load1": 2.1,
        "max_load1": 2.5,
        "mean_running": 3.2,
        "mean_steal_share": 0.001,
        "mean_iowait_share": 0.0,
        "mean_busy_share": 0.97,
        "min_freq_mhz": 2596.1,
        "throttled_share": 0.0,
        "throttled_usec": 0,
    },
    "gpu": None,
    "conditions": [],
}


def test_compute_calibration_and_telemetry_are_typed() -> None:
    hardware = {"cpu_count": 2, "calibration": CALIBRATION}
    m = verified(compute=COMPUTE, telemetry=TELEMETRY, hardware=hardware).manifest
    assert m.compute is not None and m.compute.mfu == 0.12
    assert m.compute.train_tokens_source == "self-reported" and m.compute.accelerators == 2
    cal = m.fingerprint.calibration
    assert cal is not None and cal.device == "cpu" and cal.below_reference is False
    assert cal.reference is not None and cal.reference.matmul_flops_per_s == 4e10
    assert m.fingerprint.hardware["calibration"]["threads"] == 2
    t = m.telemetry
    assert t is not None and t.samples == 12 and t.gpu is None and t.conditions == ()
    assert t.cpu is not None and t.cpu.mean_running == 3.2 and t.cpu.throttled_usec == 0


def test_gpu_telemetry_is_typed() -> None:
    gpu = {"count": 8, "min_sm_clock_mhz": 1755, "max_temperature_c": 71,
           "mean_power_w": 640.5, "power_limit_w": 700, "throttled_share": 0.25,
           "reasons": ["gpu_idle", "sw_power_cap"]}  # fmt: skip
    telemetry = {**TELEMETRY, "gpu": gpu, "conditions": ["gpu_throttled"]}
    m = verified(telemetry=telemetry).manifest
    assert m.telemetry is not None and m.telemetry.gpu is not None
    assert m.telemetry.gpu.reasons == ("gpu_idle", "sw_power_cap")
    assert m.telemetry.conditions == ("gpu_throttled",)


def test_bundles_without_the_blocks_still_verify() -> None:
    m = verified().manifest
    assert m.compute is None and m.telemetry is None and m.fingerprint.calibration is None


@pytest.mark.parametrize(
    ("block", "change"),
    [
        ("compute", {"mfu": "high"}),
        ("compute", {"train_tokens_source": "runner-measured"}),
        ("compute", {"accelerators": 0}),
        ("telemetry", {"member": "../etc/passwd"}),
        ("telemetry", {"conditions": ["<script>"]}),
        ("telemetry", {"cpu": {**TELEMETRY["cpu"], "mean_steal_share": 1.5}}),
        ("telemetry", {"gpu": {"count": 1}}),  # a GPU block names every figure
    ],
)
def test_malformed_blocks_are_refused_by_the_schema(block: str, change: dict[str, object]) -> None:
    base = {"compute": COMPUTE, "telemetry": TELEMETRY}[block]
    with pytest.raises(BundleInvalid, match="manifest schema"):
        verified(**{block: {**base, **change}})
    missing = {k: v for k, v in base.items() if k != "conditions" and k != "mfu"}
    with pytest.raises(BundleInvalid, match="manifest schema"):
        verified(**{block: missing})


def test_a_calibration_without_its_figures_is_refused() -> None:
    bad = {k: v for k, v in CALIBRATION.items() if k != "matmul_flops_per_s"}
    with pytest.raises(BundleInvalid, match="manifest schema"):
        verified(hardware={"calibration": bad})
