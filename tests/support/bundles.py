"""Signed bundles made with `speedrun.bundle.build_bundle` (the runner's own writer) for tests
that need figures chosen by hand: record rules, hostile inputs, leasing. Tests of ingest on
real runs use bundles made by the `speedrun run` CLI instead (see tests/server/test_real_bundles.py).

The figures keep every rule of `speedrun.rules` unless a test breaks one on purpose: the
script's own time agrees with the runner's, the self-reported loss with the independent one,
the evaluation carries a passed causality probe, and on tracks with held-out data the private
slice is scored and the deployment's commitment is in the fingerprint. Records are made on
`cpu-tiny`, the live public CPU track (its runs go through jobs, see `support.claims`)."""

from __future__ import annotations

import hashlib
import json
import uuid
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from server.services.agent_auth import sign_request
from speedrun import signing
from speedrun.bundle import build_bundle
from speedrun.errors import TrackError
from speedrun.tracks import get_track
from support.claims import Claim, run_claim

TRACK = "cpu-tiny"
LIVE = get_track(TRACK)
RUNS = LIVE.rules.runs_required
# Losses are set relative to the track's target, which its owners may recalibrate.
TARGET = LIVE.rules.target_val_loss
LOSS = round(TARGET - 0.5, 4)  # comfortably below the target
LOSS2 = round(LOSS + 0.001, 4)  # a second run close to the first: p far below 0.01
LOSSES = [round(LOSS + i / 1000, 4) for i in range(RUNS)]  # a run of the rule's size
COMMITMENT = "c0" * 32

DEFAULT_SOURCE = "from speedrun import harness\n\nprint('variant A')\n"
H100 = {"name": "NVIDIA H100 80GB HBM3"}
IMAGE_DIGEST = "sha256:" + "ab" * 32


def step_log(time_ms: float, val_loss: float, steps: int = 4, *, midpoint: bool = False) -> str:
    """A log in modded-nanogpt's line format: a val point at step 0 and at the end (and one
    half-way with `midpoint`, for the pages' loss curves)."""
    lines = [f"step:0/{steps} val_loss:5.5000 train_time:0ms step_avg:nanms"]
    for s in range(1, steps + 1):
        t = time_ms * s / steps
        lines.append(
            f"step:{s}/{steps} train_loss:{5 - s * 0.1:.4f} train_time:{t:.0f}ms step_avg:{t / s:.2f}ms"
        )
        if midpoint and s == steps // 2:
            mid = (5.5 + val_loss) / 2
            lines.append(f"step:{s}/{steps} val_loss:{mid:.4f} train_time:{t:.0f}ms")
    lines.append(
        f"step:{steps}/{steps} val_loss:{val_loss:.4f} train_time:{time_ms:.0f}ms step_avg:{time_ms / steps:.2f}ms"
    )
    return "\n".join(lines) + "\n"


def _version(track: str, version: int | None) -> int:
    if version is not None:
        return version
    try:
        return get_track(track).version
    except TrackError:
        return 1  # an unknown track: the server refuses it


def _figures(time_ms: float | None, val_loss: float | None, harness: bool) -> dict[str, Any]:
    source = "independently-evaluated" if harness else "self-reported"
    fig: dict[str, Any] = {
        "time_ms": time_ms,
        "time_source": "runner-measured",
        "val_loss": val_loss,
        "val_loss_source": source if val_loss is not None else "none",
    }
    if harness and time_ms is not None:
        fig |= {"self_reported_train_time_ms": time_ms, "time_disagreement": 0.0}
    if harness and val_loss is not None:
        fig |= {
            "independent_val_loss": val_loss,
            "self_reported_val_loss": val_loss,
            "private_val_loss": round(val_loss + 0.01, 4),
        }
    return fig


def _held_out(track: str, version: int) -> dict[str, Any] | None:
    try:
        kind = get_track(track, version).evaluation.held_out
    except TrackError:
        return None
    return None if kind == "none" else {"kind": kind, "commitment": COMMITMENT}


def _fingerprint(
    track: str, version: int, hardware: dict[str, Any] | None, image_digest: str
) -> dict[str, Any]:
    return {
        "image": {"name": "speedrun-cpu", "digest": image_digest},
        "data": {
            "dataset": "synthlang-tiny-v1",
            "revision": "1",
            "files": {},
            "held_out": _held_out(track, version),
        },
        "software": {"python": "3.11"},
        "hardware": hardware if hardware is not None else {"cpu_count": 2},
    }


def manifest(
    *,
    track: str = TRACK,
    version: int | None = None,
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
    job: dict[str, Any] | None = None,
    image_digest: str = IMAGE_DIGEST,
    name: str = "variant",
    compute: dict[str, Any] | None = None,
    telemetry: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """A manifest as the runner writes it for a run that keeps every rule (by default);
    `compute` and `telemetry` blocks (support.machines builds them) when given, absent as
    in bundles signed before the runner measured them otherwise."""
    source_bytes = source.encode()
    version = _version(track, version)
    completed = status == "completed" and harness and val_loss is not None
    return {
        "schema_version": 1,
        "kind": "speedrun-run",
        "run_id": run_id or uuid.uuid4().hex,
        "job": job,
        "track": {"id": track, "version": version},
        "variant": {
            "sha256": hashlib.sha256(source_bytes).hexdigest(),
            "path": "train_gpt.py",
            "harness": harness,
            "name": name,
        },
        "backend": backend,
        "seed": seed,
        "ab": ab,
        "exit": {"status": status, "code": 0 if status == "completed" else 1, "reason": None},
        "figures": _figures(time_ms, val_loss, harness),
        "flags": [],
        "fingerprint": _fingerprint(track, version, hardware, image_digest),
        "runner": {"key_id": "0" * 16, "version": "test"},
        "timing": {"method": "harness-events", "cap_exceeded": False, "problems": []},
        "evaluation": {"ok": True, "val_loss": val_loss, "causality": {"passed": True}}
        if completed
        else None,
        "started_at": "2026-01-01T00:00:00+00:00",
        "finished_at": "2026-01-01T00:01:00+00:00",
        "members": {},
        "signature": {},
        **({"compute": compute} if compute is not None else {}),
        **({"telemetry": telemetry} if telemetry is not None else {}),
    }


def make_bundle(
    key: Ed25519PrivateKey,
    m: dict[str, Any] | None = None,
    *,
    extra_members: dict[str, bytes] | None = None,
    log: str | None = None,
    **fields: Any,
) -> bytes:
    """A correctly signed bundle for manifest `m` (or `manifest(**fields)`); `job` (a claim
    answer's `{"id", "nonce"}`) makes it a run of that job."""
    m = dict(m or manifest(**fields))
    m["runner"] = {**m["runner"], "key_id": signing.key_id(key.public_key())}
    source = fields.get("source", DEFAULT_SOURCE).encode()
    fig = m["figures"]
    log = log if log is not None else step_log(fig["time_ms"] or 0, fig["val_loss"] or 9.9)
    members = {"train_gpt.py": source, "log.txt": log.encode(), **(extra_members or {})}
    return build_bundle(m, members, key)


def claim_runs(
    client: Any,
    key: Ed25519PrivateKey,
    token: str,
    source: str,
    times: list[float],
    losses: list[float] | None = None,
    *,
    finish: bool = True,
    ab_for: Any = None,
    **fields: Any,
) -> Claim:
    """Submit `source`, and upload one run of its job per time (losses default to LOSSES),
    each signed with the job's id and nonce; then complete the job. `ab_for(i)` gives run
    i's A/B block, `fields` the rest of each manifest (`manifest`'s arguments)."""
    losses = losses or LOSSES[: len(times)] + [LOSS] * max(0, len(times) - len(LOSSES))

    def make(job: dict[str, Any], i: int) -> bytes:
        figures = {"time_ms": times[i], "val_loss": losses[i], "seed": i, **fields}
        if ab_for is not None:
            figures["ab"] = ab_for(i)
        return make_bundle(key, source=source, job=job, **figures)

    track = fields.get("track", TRACK)
    agent = DeclaringClient(client, key, fitting_hardware(track))
    return run_claim(agent, key, token, source, track, make, runs=len(times), finish=finish)


def fitting_hardware(track: str) -> dict[str, Any]:
    """A claim body declaring hardware that fits `track` (8x H100 for the 8x H100 track)."""
    hw = get_track(track).hardware
    model = H100["name"] if hw.accelerator == "cuda" else None
    return {"accelerator": hw.accelerator, "accelerator_count": hw.count, "gpu_model": model}


class DeclaringClient:
    """`client`, but its agent claims declare `hardware` (the server hands a job only to an
    agent whose hardware fits its track; `support.claims` claims with an empty body, which
    the server takes for a CPU agent's)."""

    def __init__(self, client: Any, key: Ed25519PrivateKey, hardware: dict[str, Any]) -> None:
        self.client, self.key, self.hardware = client, key, hardware

    def request(self, method: str, path: str, *, content: bytes = b"", **kw: Any) -> Any:
        if method == "POST" and path.endswith("/jobs/claim") and not content:
            content = json.dumps(self.hardware).encode()
            kw["headers"] = {
                **kw.get("headers", {}),
                **sign_request(self.key, method, path, content),
            }
        return self.client.request(method, path, content=content, **kw)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.client, name)
