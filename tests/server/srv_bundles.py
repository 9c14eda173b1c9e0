"""Signed bundles made with `speedrun.bundle.build_bundle` (the runner's own writer) for tests
that need figures chosen by hand: record rules, hostile inputs, leasing. Tests of ingest on
real runs use bundles made by the `speedrun run` CLI instead (see test_server_real_bundles)."""

from __future__ import annotations

import hashlib
import uuid
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from speedrun import signing
from speedrun.bundle import build_bundle
from speedrun.tracks import get_track

# Losses are set relative to the track's target, which its owners may recalibrate.
TARGET = get_track("cpu-smoke").rules.target_val_loss
LOSS = round(TARGET - 0.5, 4)  # comfortably below the target
LOSS2 = round(LOSS + 0.001, 4)  # a second run close to the first: p far below 0.01

DEFAULT_SOURCE = "from speedrun import harness\n\nprint('variant A')\n"
H100 = {"name": "NVIDIA H100 80GB HBM3"}


def step_log(time_ms: float, val_loss: float, steps: int = 4) -> str:
    lines = [f"step:0/{steps} val_loss:5.5000 train_time:0ms step_avg:nanms"]
    for s in range(1, steps + 1):
        t = time_ms * s / steps
        lines.append(
            f"step:{s}/{steps} train_loss:{5 - s * 0.1:.4f} train_time:{t:.0f}ms step_avg:{t / s:.2f}ms"
        )
    lines.append(
        f"step:{steps}/{steps} val_loss:{val_loss:.4f} train_time:{time_ms:.0f}ms step_avg:{time_ms / steps:.2f}ms"
    )
    return "\n".join(lines) + "\n"


def manifest(
    *,
    track: str = "cpu-smoke",
    version: int = 1,
    source: str = DEFAULT_SOURCE,
    time_ms: float | None = 1000.0,
    val_loss: float | None = LOSS,
    status: str = "completed",
    backend: str = "docker",
    harness: bool = True,
    ab: dict[str, Any] | None = None,
    hardware: dict[str, Any] | None = None,
    run_id: str | None = None,
    seed: int = 0,
) -> dict[str, Any]:
    source_bytes = source.encode()
    return {
        "schema_version": 1,
        "kind": "speedrun-run",
        "run_id": run_id or uuid.uuid4().hex,
        "track": {"id": track, "version": version},
        "variant": {
            "sha256": hashlib.sha256(source_bytes).hexdigest(),
            "path": "train_gpt.py",
            "harness": harness,
            "name": "variant",
        },
        "backend": backend,
        "seed": seed,
        "ab": ab,
        "exit": {"status": status, "code": 0 if status == "completed" else 1, "reason": None},
        "figures": {
            "time_ms": time_ms,
            "time_source": "runner-measured",
            "val_loss": val_loss,
            "val_loss_source": ("independently-evaluated" if harness else "self-reported")
            if val_loss is not None
            else "none",
        },
        "flags": [],
        "fingerprint": {
            "image": {"name": "speedrun-cpu", "digest": "sha256:" + "ab" * 32},
            "data": {"dataset": "synthlang-smoke-v1", "revision": "1", "files": {}},
            "software": {"python": "3.11"},
            "hardware": hardware if hardware is not None else {"cpu_count": 2},
        },
        "runner": {"key_id": "0" * 16, "version": "test"},
        "started_at": "2026-01-01T00:00:00+00:00",
        "finished_at": "2026-01-01T00:01:00+00:00",
        "members": {},
        "signature": {},
    }


def make_bundle(
    key: Ed25519PrivateKey,
    m: dict[str, Any] | None = None,
    *,
    extra_members: dict[str, bytes] | None = None,
    **fields: Any,
) -> bytes:
    """A correctly signed bundle for manifest `m` (or `manifest(**fields)`)."""
    m = dict(m or manifest(**fields))
    m["runner"] = {**m["runner"], "key_id": signing.key_id(key.public_key())}
    source = fields.get("source", DEFAULT_SOURCE).encode()
    fig = m["figures"]
    log = step_log(fig["time_ms"] or 0, fig["val_loss"] or 9.9)
    members = {"train_gpt.py": source, "log.txt": log.encode(), **(extra_members or {})}
    return build_bundle(m, members, key)
