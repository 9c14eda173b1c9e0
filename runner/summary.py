"""The summary of a session: statistics over its attempts and the track's verdict."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import asdict
from typing import Any

from runner.attempt import AttemptOutcome
from speedrun import stats
from speedrun.tracks import Track


def _attempt_row(o: AttemptOutcome) -> dict[str, Any]:
    return {
        "run_id": o.run_id,
        "seed": o.seed,
        "status": o.status,
        "reason": o.reason,
        "time_ms": o.time_ms,
        "val_loss": o.val_loss,
        "flags": o.flags,
        "bundle": str(o.bundle_path),
    }


def _describe(values: Sequence[float]) -> dict[str, Any] | None:
    if not values:
        return None
    s = stats.summarize(values)
    return {"n": s.n, "mean": s.mean, "std": s.std}


def _finite(x: float) -> float | None:
    return x if math.isfinite(x) else None


def runs_summary(
    track: Track, backend: str, group_id: str, variant: str, outcomes: Sequence[AttemptOutcome]
) -> dict[str, Any]:
    done = [o for o in outcomes if o.status == "completed"]
    times = [o.time_ms for o in done if o.time_ms is not None]
    losses = [o.val_loss for o in done if o.val_loss is not None]
    p = stats.p_mean_below(losses, track.rules.target_val_loss)
    return {
        "kind": "runs",
        "group_id": group_id,
        "track": track.key,
        "variant": variant,
        "backend": backend,
        "attempts": [_attempt_row(o) for o in outcomes],
        "completed": len(done),
        "time_ms": _describe(times),
        "val_loss": _describe(losses),
        "target_val_loss": track.rules.target_val_loss,
        "p_value": _finite(p),
        "verdict": verdict(track, backend, len(outcomes), losses, p),
    }


def verdict(track: Track, backend: str, attempts: int, losses: Sequence[float], p: float) -> str:
    rules = track.rules
    failed = attempts - len(losses)
    parts = []
    if len(losses) < rules.runs_required:
        parts.append(
            f"insufficient runs: {len(losses)} completed, the track needs {rules.runs_required}"
        )
    elif math.isfinite(p) and p < rules.significance_alpha:
        parts.append(
            f"target met: mean val loss {stats.summarize(losses).mean:.4f} < "
            f"{rules.target_val_loss} (p={p:.3g} < {rules.significance_alpha})"
        )
    else:
        parts.append(
            f"target not met: mean val loss not significantly below {rules.target_val_loss} "
            f"(p={p:.3g}, need < {rules.significance_alpha})"
        )
    if failed:
        parts.append(f"{failed} attempt(s) did not complete")
    if backend not in rules.record_backends:
        parts.append(f"backend {backend!r} never counts toward records")
    return "; ".join(parts)


def ab_summary(
    track: Track,
    backend: str,
    session_id: str,
    results: dict[str, list[AttemptOutcome]],
    paired: Callable[[Sequence[float], Sequence[float]], stats.PairedSpeedup],
) -> dict[str, Any]:
    pairs = [
        (b.time_ms, c.time_ms)
        for b, c in zip(results["baseline"], results["candidate"], strict=True)
        if b.status == c.status == "completed" and b.time_ms and c.time_ms
    ]
    out: dict[str, Any] = {
        "kind": "ab",
        "session_id": session_id,
        "track": track.key,
        "backend": backend,
        "baseline": [_attempt_row(o) for o in results["baseline"]],
        "candidate": [_attempt_row(o) for o in results["candidate"]],
        "pairs_completed": len(pairs),
        "speedup": None,
    }
    if len(pairs) < 2:
        out["verdict"] = f"insufficient pairs: {len(pairs)} completed, need at least 2"
        return out
    result = paired([b for b, _ in pairs], [c for _, c in pairs])
    out["speedup"] = {
        k: _finite(v) if isinstance(v, float) else v for k, v in asdict(result).items()
    }
    out["verdict"] = ab_verdict(track, result)
    return out


def ab_verdict(track: Track, r: stats.PairedSpeedup) -> str:
    ci = f"{r.speedup:.4f}x ({r.confidence:.0%} CI {r.ci_low:.4f}-{r.ci_high:.4f})"
    if r.ci_low > 1.0 and r.welch_p < track.rules.beat_alpha:
        return f"candidate faster: {ci}, Welch p={r.welch_p:.3g}"
    if r.ci_high < 1.0:
        return f"candidate slower: {ci}"
    return f"no significant difference: {ci}, paired p={r.p_two_sided:.3g}"
