"""The official time of an attempt, from the runner's own timestamps.

For a harness variant, with every instant on the runner's monotonic clock and t0 the moment
the runner started the process:

    untimed = (last warmup_end - t0) + Σ (val_resume - val_pause) + (end - done)
    time    = (end - t0) - min(untimed, cap)

where `end` is the arrival of the `export` event after `done` (else the process exit). While
untimed time stays under the track's cap this is exactly `(done - t0) - untimed_before_done`:
the clock runs from the last warmup_end to done, less the validation pauses. Counting the
stretch from done to export as untimed-but-capped closes a loophole: a variant that announces
`done` early and keeps training pays for it once the cap is used up.

A legacy variant announces nothing: its time is the process's wall time.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from runner.events import Event


@dataclass(frozen=True)
class Timing:
    time_ms: float | None  # the official figure; None when it cannot be determined
    wall_ms: float
    untimed_ms: float | None = None
    untimed_cap_ms: float | None = None
    breakdown_ms: dict[str, float] = field(default_factory=dict)
    script_train_time_ms: float | None = None  # what the variant said in `done`
    train_tokens: int | None = None  # ... and how many tokens it says it trained on
    problems: tuple[str, ...] = ()  # protocol breaches, flagged in the bundle

    @property
    def cap_exceeded(self) -> bool:
        return (
            self.untimed_ms is not None
            and self.untimed_cap_ms is not None
            and self.untimed_ms > self.untimed_cap_ms
        )


def legacy_timing(t0_s: float, t_end_s: float) -> Timing:
    return Timing(time_ms=_ms(t_end_s - t0_s), wall_ms=_ms(t_end_s - t0_s))


def harness_timing(
    events: Sequence[Event], *, t0_s: float, t_end_s: float, untimed_cap_s: float
) -> Timing:
    wall_ms = _ms(t_end_s - t0_s)
    cap_ms = untimed_cap_s * 1000.0
    # Events are ordered by arrival; several can share a timestamp (one read, many lines).
    index = next((i for i, e in enumerate(events) if e.name == "done"), None)
    if index is None:
        return Timing(None, wall_ms, untimed_cap_ms=cap_ms, problems=("no done event",))
    done, before, after = events[index], events[:index], events[index + 1 :]
    problems = [f"{e.name} event after done" for e in after if e.name != "export"]
    warm = [e for e in before if e.name == "warmup_end"]
    timed_from = warm[-1].t_s if warm else t0_s
    pauses_s, pause_problems = _pause_time(before, timed_from, done.t_s)
    problems += pause_problems
    export = next((e for e in after if e.name == "export"), None)
    end_s = export.t_s if export is not None else t_end_s
    breakdown = {
        "startup_warmup_ms": _ms(timed_from - t0_s),
        "val_pauses_ms": _ms(pauses_s),
        "post_done_ms": _ms(end_s - done.t_s),
    }
    untimed_ms = sum(breakdown.values())
    time_ms = _ms(end_s - t0_s) - min(untimed_ms, cap_ms)
    script_ms = done.payload.get("train_time_ms")
    tokens = done.payload.get("train_tokens")
    return Timing(
        time_ms=round(time_ms, 3),
        wall_ms=wall_ms,
        untimed_ms=round(untimed_ms, 3),
        untimed_cap_ms=cap_ms,
        breakdown_ms=breakdown,
        script_train_time_ms=float(script_ms) if isinstance(script_ms, int | float) else None,
        train_tokens=tokens if isinstance(tokens, int) and tokens >= 0 else None,
        problems=tuple(problems),
    )


def _pause_time(
    events: Sequence[Event], timed_from_s: float, done_s: float
) -> tuple[float, list[str]]:
    """Σ of val pauses inside the timed stretch; unmatched or nested ones count as timed."""
    total, problems = 0.0, []
    paused_at: float | None = None
    for e in events:
        if e.name == "val_pause":
            if paused_at is not None:
                problems.append("val_pause while already paused")
                continue
            paused_at = e.t_s
        elif e.name == "val_resume":
            if paused_at is None:
                problems.append("val_resume without val_pause")
                continue
            start = max(paused_at, timed_from_s)
            total += max(0.0, min(e.t_s, done_s) - start)
            paused_at = None
    if paused_at is not None:
        problems.append("val_pause never resumed before done")
    return total, problems


def disagreement(runner_ms: float | None, script_ms: float | None) -> float | None:
    """(runner - script) / runner, or None where either is missing or zero."""
    if runner_ms is None or script_ms is None or runner_ms <= 0:
        return None
    return (runner_ms - script_ms) / runner_ms


def _ms(seconds: float) -> float:
    return round(seconds * 1000.0, 3)
