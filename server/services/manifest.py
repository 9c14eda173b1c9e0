"""What the server reads out of a verified manifest: text sanity, hardware class, whether a
run is official, which member is the log, and the columns of a `runs` row.

The status stored is the server's own judgement (`speedrun.rules.effective_status`), never
the manifest's word alone: a manifest that says `completed` while its figures break a rule is
stored as `rule_violation`, with the rules it broke in `violations_json`.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from server.services.compute import compute_columns
from speedrun.errors import BundleInvalid
from speedrun.machine_id import machine_key
from speedrun.manifest import Manifest
from speedrun.rules import VOID_STATUS, effective_status, violations
from speedrun.tracks import Track

LOG_NAMES = ("log.txt", "train.log", "run.log", "logs/log.txt", "output.log")


INT64 = 2**63


def check_values(value: Any, where: str = "manifest") -> None:
    """Refuse what no database or JSON answer can hold: strings with lone surrogates (from
    `\\ud800` escapes) or NUL, NaN or infinite numbers, integers beyond 64 bits."""
    if isinstance(value, float) and not math.isfinite(value):
        raise BundleInvalid(f"{where}: number is not finite", code="bad-number")
    if isinstance(value, int) and not -INT64 <= value < INT64:
        raise BundleInvalid(f"{where}: integer out of range", code="bad-number")
    if isinstance(value, str):
        if "\x00" in value:
            raise BundleInvalid(f"{where}: NUL character in text", code="bad-text")
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            raise BundleInvalid(f"{where}: text is not valid Unicode", code="bad-text") from None
    elif isinstance(value, dict):
        for key, item in value.items():
            check_values(key, where)
            check_values(item, f"{where}.{key}")
    elif isinstance(value, list):
        for index, item in enumerate(value):
            check_values(item, f"{where}[{index}]")


def _gpu_names(hw: Mapping[str, Any]) -> list[str]:
    gpus = hw.get("gpus")
    if not isinstance(gpus, list):
        return []
    names = [
        g if isinstance(g, str) else g.get("name") if isinstance(g, dict) else None for g in gpus
    ]
    return [str(n) for n in names if n]


def hardware_of(manifest: Manifest, track: Track) -> tuple[str | None, int | None]:
    """(hardware class, accelerator count) as far as the fingerprint tells."""
    hw = manifest.fingerprint.hardware
    declared = hw.get("class")
    names = _gpu_names(hw)
    if names:
        pattern = track.hardware.gpu_model_pattern
        fits = len(names) == track.hardware.count and all(pattern in n for n in names)
        klass = track.hardware.klass if fits else f"{len(names)}x{names[0]}"
        return (declared if isinstance(declared, str) else klass), len(names)
    if isinstance(declared, str):
        return declared, track.hardware.count if declared == track.hardware.klass else None
    if track.hardware.accelerator == "cpu":
        return "cpu", track.hardware.count
    return None, None


def is_official(
    m: Manifest, hardware_class: str | None, track: Track, extra: Iterable[str]
) -> bool:
    """A record backend on the track's hardware class; on a track with held-out data, scored
    on the same kind of held-out data, with the deployment's commitment to its secret."""
    backends = {*track.rules.record_backends, *extra}
    if m.backend not in backends or hardware_class != track.hardware.klass:
        return False
    kind = track.evaluation.held_out
    if kind == "none":
        return True
    held = m.fingerprint.data.held_out
    return bool(held is not None and held.kind == kind and held.commitment)


def judge(m: Manifest, track: Track) -> tuple[str, str | None, list[str]]:
    """(status, reason, violations) as the server re-checks the track's rules."""
    status, reason = effective_status(m.raw, track)
    if status != VOID_STATUS:
        return status, reason, []
    found = violations(m.raw, track) if m.exit.status == "completed" else []
    listed = [str(v)[:500] for v in m.violations]
    broken = list(dict.fromkeys([*listed, *found]))
    return status, reason or "; ".join(broken)[:4000] or None, broken


def log_member(members: Iterable[str], variant_path: str) -> str | None:
    names = [m for m in members if m != variant_path]
    for name in LOG_NAMES:
        if name in names:
            return name
    logs = sorted(m for m in names if m.endswith((".log", ".txt")))
    return logs[0] if logs else None


def parse_time(value: Any, field: str) -> datetime:
    try:
        return datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        raise BundleInvalid(f"{field} is not an ISO 8601 time", code="bad-manifest") from None


def _short(value: Any, limit: int, field: str) -> str | None:
    if value is not None and len(str(value)) > limit:
        raise BundleInvalid(f"{field} is longer than {limit} characters", code="bad-manifest")
    return None if value is None else str(value)


def run_columns(m: Manifest, track: Track, extra_backends: Iterable[str]) -> dict[str, Any]:
    """The `runs` columns copied out of a verified manifest."""
    fig, ab, image = m.figures, m.ab, m.fingerprint.image
    hw_class, count = hardware_of(m, track)
    status, reason, broken = judge(m, track)
    return {
        "run_id": m.run_id,
        "track_id": track.id,
        "track_version": track.version,
        "backend": m.backend,
        "official": is_official(m, hw_class, track, extra_backends),
        "status": status,
        "exit_reason": reason,
        "violations_json": json.dumps(broken, ensure_ascii=False) if broken else None,
        "time_ms": fig.time_ms,
        "val_loss": fig.val_loss,
        "val_loss_source": fig.val_loss_source,
        "claimed_time_ms": fig.self_reported_train_time_ms,
        "seed": m.seed,
        "ab_session": _short(ab.session_id, 100, "ab.session_id") if ab else None,
        "ab_role": ab.role if ab else None,
        "ab_pair_index": ab.pair_index if ab else None,
        "hardware_class": hw_class[:100] if hw_class else None,
        "accelerator_count": count,
        "image_digest": image.digest if image is not None else None,
        "log_member": log_member(m.members, m.variant.path),
        "started_at": parse_time(m.started_at, "started_at"),
        "finished_at": parse_time(m.finished_at, "finished_at"),
        "machine_key": machine_key(m.raw),
        **compute_columns(m.raw),
    }
