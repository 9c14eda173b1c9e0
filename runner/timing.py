"""The official time of an attempt, from the runner's own timestamps.

For a harness variant every instant is the runner's monotonic clock at an event's arrival,
t0 the moment the runner started the process, and

    start    = the FIRST warmup_end (t0 without one): the training data unlocks there, so
               nothing after it may be untimed warmup (a later warmup_end is a breach)
    end      = the `export` event after `done` (the model file is hashed then and again at
               exit: runner.attempt), else the process exit
    untimed  = min(start - t0, untimed_cap)                              startup + warmup
             + min(val pauses between start and done, share x timed)   validation pauses
             + min(end - done, export_allowance)                        writing the model
    time     = (end - t0) - untimed

so the clock runs to the real end: a variant that says `done` early and keeps training pays
for everything past the export allowance (0 on live tracks: the clock stops when the model
file exists), one that trains inside its validation pauses
pays beyond a small share of its timed time (and fails: rules.violations), and training
before warmup_end has no data to read. The script's own train time is compared with the
runner's `time_to_done` (start to done, less the pauses), which is what a script measures.
A legacy variant is timed as the whole process.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

from runner.events import Event


@dataclass(frozen=True)
class Caps:
    """What a track leaves untimed (speedrun.tracks.Limits)."""

    untimed_cap_s: float  # startup + warmup
    val_pause_share: float  # pauses, as a share of the timed training time
    export_allowance_s: float  # done -> export


@dataclass(frozen=True)
class Timing:
    time_ms: float | None  # the official figure; None when it cannot be determined
    wall_ms: float
    untimed_ms: float | None = None  # credited as untimed, after the caps
    untimed_cap_ms: float | None = None  # the startup + warmup cap
    breakdown_ms: dict[str, float] = field(default_factory=dict)  # raw untimed stretches
    time_to_done_ms: float | None = None  # start -> done less pauses: what a script measures
    script_train_time_ms: float | None = None  # what the variant said in `done`
    train_tokens: int | None = None  # ... and how many tokens it says it trained on
    problems: tuple[str, ...] = ()  # protocol breaches: the run fails (speedrun.rules)
    cap_exceeded: bool = False  # startup + warmup over its cap (the excess was timed)
    pause_cap_exceeded: bool = False  # validation pauses over their share (excess timed)


def legacy_timing(t0_s: float, t_end_s: float) -> Timing:
    return Timing(time_ms=_ms(t_end_s - t0_s), wall_ms=_ms(t_end_s - t0_s))


def harness_timing(events: Sequence[Event], *, t0_s: float, t_end_s: float, caps: Caps) -> Timing:
    wall_ms = _ms(t_end_s - t0_s)
    cap_ms = caps.untimed_cap_s * 1000.0
    # Events are ordered by arrival; several can share a timestamp (one read, many lines).
    index = next((i for i, e in enumerate(events) if e.name == "done"), None)
    if index is None:
        return Timing(None, wall_ms, untimed_cap_ms=cap_ms, problems=("no done event",))
    done, before, after = events[index], events[:index], events[index + 1 :]
    problems = _order_problems(before, after)
    warm = [e for e in before if e.name == "warmup_end"]
    start_s = warm[0].t_s if warm else t0_s
    pauses_s, pause_problems = _pause_time(before, start_s, done.t_s)
    problems += pause_problems
    export = next((e for e in after if e.name == "export"), None)
    end_s = export.t_s if export is not None else t_end_s
    startup_s, post_s = start_s - t0_s, end_s - done.t_s
    allowed_pause_s = caps.val_pause_share * max(0.0, done.t_s - start_s - pauses_s)
    credited_s = (
        min(startup_s, caps.untimed_cap_s)
        + min(pauses_s, allowed_pause_s)
        + min(post_s, caps.export_allowance_s)
    )
    script_ms = done.payload.get("train_time_ms")
    if isinstance(script_ms, float) and not math.isfinite(script_ms):
        problems.append("done event's train_time_ms is not a finite number")
        script_ms = None
    tokens = done.payload.get("train_tokens")
    return Timing(
        time_ms=round(_ms(end_s - t0_s) - _ms(credited_s), 3),
        wall_ms=wall_ms,
        untimed_ms=_ms(credited_s),
        untimed_cap_ms=cap_ms,
        time_to_done_ms=_ms(done.t_s - start_s - pauses_s),
        breakdown_ms={
            "startup_warmup_ms": _ms(startup_s),
            "val_pauses_ms": _ms(pauses_s),
            "val_pauses_allowed_ms": _ms(allowed_pause_s),
            "post_done_ms": _ms(post_s),
        },
        script_train_time_ms=float(script_ms) if isinstance(script_ms, int | float) else None,
        train_tokens=tokens if isinstance(tokens, int) and 0 <= tokens < 2**63 else None,
        problems=tuple(problems),
        cap_exceeded=startup_s > caps.untimed_cap_s,
        pause_cap_exceeded=pauses_s > allowed_pause_s,
    )


def _order_problems(before: Sequence[Event], after: Sequence[Event]) -> list[str]:
    """Events out of their place in the protocol."""
    problems = [f"{e.name} event after done" for e in after if e.name != "export"]
    if sum(e.name == "export" for e in after) > 1:
        problems.append("export sent more than once")
    if any(e.name == "export" for e in before):
        problems.append("export before done")
    names = [e.name for e in before]
    if names.count("warmup_end") > 1:
        problems.append("warmup_end sent more than once (the clock starts at the first)")
    if "warmup_end" in names and "warmup_start" in names[names.index("warmup_end") :]:
        problems.append("warmup_start after warmup_end")
    return problems


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
