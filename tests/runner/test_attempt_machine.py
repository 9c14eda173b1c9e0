"""An attempt's machine record: the calibration block beside the track's reference, the blocks
added to a manifest (calibration, compute, telemetry with conditions judged by
speedrun.machine), a real calibration through the local backend, the bundles of real local runs,
and CPU hogs beside a real attempt in a container, seen in its telemetry and conditions."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from runner_helpers import TINY, Session, bundles, cli, load, session_context

from runner.attempt_context import SessionContext
from runner.attempt_machine import add_machine_blocks, calibration_block, run_calibration
from runner.backends.local import LocalBackend
from runner.telemetry import TelemetryLog
from speedrun.bundle import verify_bundle
from speedrun.machine import machine_conditions
from speedrun.manifest import Manifest
from speedrun.tracks import get_track

SMOKE = get_track("cpu-smoke")
REF = SMOKE.machine.references[0]
MEASURED = {
    "device": "cpu",
    "device_name": "AMD EPYC",
    "matmul_flops_per_s": REF.matmul_flops_per_s * 1.2,
    "memory_bytes_per_s": REF.memory_bytes_per_s * 1.1,
    "seconds": 2.5,
    "threads": 2,
    "per_device": None,
}


def test_calibration_block_beside_the_tracks_reference() -> None:
    block = calibration_block(SMOKE, MEASURED, {"cpu_model": "AMD EPYC"})
    assert block["reference"] == {
        "matmul_flops_per_s": REF.matmul_flops_per_s,
        "memory_bytes_per_s": REF.memory_bytes_per_s,
    }
    assert block["tolerance"] == SMOKE.machine.calibration_tolerance
    assert block["below_reference"] is False and "per_device" not in block
    slow = calibration_block(SMOKE, {**MEASURED, "matmul_flops_per_s": 1e9}, {})
    assert slow["below_reference"] is True
    none = calibration_block(get_track("cpu-smoke", 1), MEASURED, {})  # v1 declares none
    assert none["reference"] is None and none["tolerance"] is None
    assert none["below_reference"] is False


def skeleton() -> dict[str, Any]:
    return {
        "track": {"id": SMOKE.id, "version": SMOKE.version},
        "figures": {"train_tokens": 61_440, "time_ms": 2000.0},
        "fingerprint": {"hardware": {"cpu_model": "AMD EPYC", "cpu_count": 2}},
    }


def telemetry_log(steal: float) -> TelemetryLog:
    cpu = {"cpus": 2, "mean_load1": 1.0, "max_load1": 1.0, "mean_running": 3.0,
           "mean_steal_share": steal, "mean_iowait_share": 0.0, "mean_busy_share": 1.0}  # fmt: skip
    summary = {"member": "telemetry.jsonl", "samples": 3, "interval_s": 1.0, "cpu": cpu,
               "gpu": None, "conditions": []}  # fmt: skip
    return TelemetryLog(b"", summary)


def test_blocks_added_to_a_manifest_with_conditions_judged() -> None:
    m = skeleton()
    slow = {**MEASURED, "memory_bytes_per_s": 1e6}
    add_machine_blocks(m, SMOKE, slow, telemetry_log(0.2), {"forward_flops_per_token": 98304.0})
    assert m["fingerprint"]["hardware"]["calibration"]["below_reference"] is True
    assert m["telemetry"]["conditions"] == ["below_calibration", "cpu_steal"]
    assert m["compute"]["training_flops"] == 3 * 98304.0 * 61_440
    assert m["compute"]["peak_source"] == "calibration"


def test_a_failed_calibration_is_recorded_not_fatal() -> None:
    m = skeleton()
    add_machine_blocks(m, SMOKE, "calibration failed (exit 1): boom", telemetry_log(0.0), None)
    hw = m["fingerprint"]["hardware"]
    assert "calibration" not in hw and hw["calibration_error"].endswith("boom")
    assert "compute" not in m and m["telemetry"]["conditions"] == []


@pytest.mark.slow  # a fresh interpreter imports torch and probes for ~2 s
def test_a_real_calibration_through_the_local_backend(smoke_data_dir: Path, tmp_path: Path) -> None:
    def context(backend: LocalBackend) -> SessionContext:
        ctx: SessionContext = session_context(smoke_data_dir, tmp_path, backend=backend)
        return ctx

    found = run_calibration(context(LocalBackend()), "0" * 32)
    assert isinstance(found, dict), found
    assert found["device"] == "cpu" and found["threads"] == SMOKE.hardware.count
    assert found["matmul_flops_per_s"] > 1e9 and found["memory_bytes_per_s"] > 5e8
    broken = LocalBackend()
    broken.python = "/bin/false"
    message = run_calibration(context(broken), "0" * 32)
    assert isinstance(message, str) and message.startswith("calibration failed (exit 1)")


def check_bundle(path: Path, pubkey: Path) -> dict[str, Any]:
    """Verified (schema included); typed; the runner's conditions are speedrun.machine's."""
    bundle = load(path)
    verify_bundle(bundle)  # the schema, with the new blocks
    assert cli("verify", str(path), "--pubkey", str(pubkey))[0] == 0
    m = bundle.manifest
    typed = Manifest.from_json(m)
    assert typed.compute is not None and typed.compute.forward_flops_per_token > 0
    assert typed.fingerprint.calibration is not None and typed.telemetry is not None
    assert m["telemetry"]["conditions"] == machine_conditions(m)
    lines = bundle.text("telemetry.jsonl").splitlines()
    assert len(lines) == m["telemetry"]["samples"] >= 1 and json.loads(lines[-1])["t_s"] > 0
    return m


@pytest.mark.slow
def test_local_bundles_carry_compute_calibration_and_telemetry(
    tiny_local_runs: Session, runner_key: Path
) -> None:
    assert tiny_local_runs.code == 0, tiny_local_runs.stderr
    for path in tiny_local_runs.bundles:
        m = check_bundle(path, Path(str(runner_key) + ".pub"))
        c, cal = m["compute"], m["fingerprint"]["hardware"]["calibration"]
        assert c["train_tokens"] == m["figures"]["train_tokens"] > 0
        assert c["train_tokens_within_ceiling"] and c["peak_source"] == "calibration"
        assert c["peak_flops_per_accelerator"] == cal["matmul_flops_per_s"] / 2
        assert 0 < c["mfu"] < 1
        cpu = m["telemetry"]["cpu"]
        assert cpu["cpus"] >= 1 and 0 <= cpu["mean_busy_share"] <= 1
        print(f"\nlocal: calibration {cal['matmul_flops_per_s']:.3g} FLOP/s "
              f"{cal['memory_bytes_per_s']:.3g} B/s; mfu {c['mfu']}; cpu {cpu}; "
              f"conditions {m['telemetry']['conditions']}")  # fmt: skip


# ----------------------------------------------------------------- CPU hogs beside an attempt


@pytest.fixture
def cpu_hogs() -> Iterator[int]:
    """Busy processes, twice the host's cores, for as long as the test runs."""
    n = 2 * (os.cpu_count() or 1)
    hogs = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(n)]
    time.sleep(1.0)
    try:
        yield n
    finally:
        for hog in hogs:
            hog.kill()
        for hog in hogs:
            hog.wait()


@pytest.mark.slow
@pytest.mark.container
def test_cpu_hogs_beside_an_attempt_show_in_its_telemetry(
    engine: Any,
    image: str,
    tmp_path: Path,
    smoke_data_dir: Path,
    runner_key: Path,
    cpu_hogs: int,
) -> None:
    code, _, err = cli(
        "run", str(TINY), "--track", "cpu-smoke", "--backend", "docker", "--image", image,
        "--out", str(tmp_path), "--key", str(runner_key), "--data-dir", str(smoke_data_dir),
        "--quiet",
    )  # fmt: skip
    # The hogs may cost the run its rules on a crowded host (exit 1: a signed bundle of a run
    # that did not complete); its telemetry is what this test reads, and it is there either way.
    assert code in (0, 1), err
    (path,) = bundles(tmp_path)
    m = check_bundle(path, Path(str(runner_key) + ".pub"))
    print(f"\nexit {m['exit']}")
    tele, cal = m["telemetry"], m["fingerprint"]["hardware"]["calibration"]
    cpu = tele["cpu"]
    print(f"\nhogs {cpu_hogs}: calibration {cal['matmul_flops_per_s']:.3g} FLOP/s "
          f"{cal['memory_bytes_per_s']:.3g} B/s (below: {cal['below_reference']}); "
          f"cgroup {tele['cgroup']}; cpu {cpu}; conditions {tele['conditions']}")  # fmt: skip
    # the hogs are runnable beside the attempt's 2 processes: far beyond one task per CPU
    assert cpu["mean_running"] - 1 - SMOKE.hardware.count >= 0.5 * cpu_hogs
    assert "cpu_load" in tele["conditions"]
    # the container's own cgroup was found and read (its throttling is what it is)
    assert tele["cgroup"] is not None and "cpu.stat" in tele["cgroup"]
    assert cpu["throttled_share"] is not None and cpu["throttled_usec"] is not None
    assert m["sandbox"]["kind"] == "container"
    if m["exit"]["status"] == "completed":
        assert m["compute"]["mfu"] is not None
