"""The rules a run's own figures must meet, read from its manifest alone (torch-free).

The runner calls `violations` when it judges an attempt (a run that breaks any rule gets the
status `rule_violation` with these reasons, never `completed`), and the server calls it again
on every manifest it ingests, so a status is never trusted by itself: a manifest that says
`completed` while its figures break a rule is stored as the rule violation it is.

For a harness variant (legacy scripts are timed whole and never count toward records):

    protocol          every breach of the event protocol the runner saw (timing.problems)
    startup cap       untimed startup + warmup over the track's `untimed_cap_s`
    pause share       untimed validation pauses over `val_pause_share` of the timed time
    time agreement    |runner - script| / runner over `rules.time_tolerance` and over 50 ms
                      (the event channel's own jitter), or no script time at all
    loss agreement    |self-reported - independent| over `rules.loss_tolerance` of independent
    token ceiling     more training tokens reported than `scale.max_train_tokens`
    causality         a completed run's evaluation must carry a passed causality probe
    held-out gap      |private slice - scored slice| over `evaluation.held_out_tolerance`
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from speedrun.tracks import Track

VOID_STATUS = "rule_violation"
TIME_SLACK_MS = 50.0  # below this, runner and script may differ whatever the share


def violations(m: Mapping[str, Any], track: Track) -> list[str]:
    """Every rule the manifest's figures break (empty: the run may count)."""
    if not m["variant"]["harness"]:
        return []
    fig = m["figures"]
    timing = m.get("timing") or {}
    found = [f"protocol: {p}" for p in timing.get("problems", [])[:20]]
    found += _caps(timing, track)
    found += _agreement(fig, track)
    tokens = fig.get("train_tokens")
    if isinstance(tokens, int) and tokens > track.scale.max_train_tokens:
        found.append(
            f"token ceiling: {tokens} training tokens reported, the track allows "
            f"{track.scale.max_train_tokens}"
        )
    if m["exit"]["status"] == "completed":
        found += _evaluation(m, track)
    return [v[:500] for v in found]


def _caps(timing: Mapping[str, Any], track: Track) -> list[str]:
    out = []
    breakdown = timing.get("breakdown_ms") or {}
    if timing.get("cap_exceeded"):
        startup = breakdown.get("startup_warmup_ms", 0.0)
        out.append(
            f"untimed cap: startup and warmup took {startup / 1000:.1f} s, the track allows "
            f"{track.limits.untimed_cap_s} s"
        )
    if timing.get("pause_cap_exceeded"):
        pauses = breakdown.get("val_pauses_ms", 0.0)
        out.append(
            f"validation pauses: {pauses / 1000:.1f} s untimed, over "
            f"{track.limits.val_pause_share:.0%} of the timed time"
        )
    return out


def _agreement(fig: Mapping[str, Any], track: Track) -> list[str]:
    out = []
    runner_ms, script_ms = fig.get("time_ms"), fig.get("self_reported_train_time_ms")
    if runner_ms is not None and script_ms is None:
        out.append("time unreported: the done event carried no train_time_ms")
    d, runner_train = fig.get("time_disagreement"), fig.get("runner_train_time_ms")
    gap_ms = abs(runner_train - script_ms) if runner_train is not None and script_ms else math.inf
    share_off = isinstance(d, int | float) and not abs(d) <= track.rules.time_tolerance
    if share_off and gap_ms > TIME_SLACK_MS:
        out.append(
            f"time disagreement: the script's train time {script_ms:.0f} ms is {d:+.2%} off "
            f"the runner's (tolerance {track.rules.time_tolerance:.0%})"
        )
    ind, rep = fig.get("independent_val_loss"), fig.get("self_reported_val_loss")
    if not (isinstance(ind, int | float) and isinstance(rep, int | float)):
        return out
    if abs(ind - rep) > track.rules.loss_tolerance * abs(ind):
        out.append(
            f"loss disagreement: self-reported {rep:.4f}, independent {ind:.4f} "
            f"(tolerance {track.rules.loss_tolerance:.0%})"
        )
    return out


def _evaluation(m: Mapping[str, Any], track: Track) -> list[str]:
    evaluation = m.get("evaluation") or {}
    causality = evaluation.get("causality") or {}
    out = []
    if causality.get("passed") is not True:
        out.append("causality: the evaluation carries no passed causality probe")
    held = m["fingerprint"]["data"].get("held_out") or {}
    private, scored = m["figures"].get("private_val_loss"), m["figures"].get("val_loss")
    if held.get("kind", "none") != "none" and private is None:
        out.append("held-out: the private slice was not scored")
    if isinstance(private, int | float) and isinstance(scored, int | float):
        gap = private - scored
        if abs(gap) > track.evaluation.held_out_tolerance:
            out.append(
                f"held-out gap: private slice {private:.4f} vs scored {scored:.4f} "
                f"({gap:+.4f}; tolerance {track.evaluation.held_out_tolerance})"
            )
    return out


def effective_status(m: Mapping[str, Any], track: Track) -> tuple[str, str | None]:
    """(status, reason) as the rules make them: `completed` only without any violation."""
    status, reason = m["exit"]["status"], m["exit"].get("reason")
    if status != "completed":
        return status, reason
    found = violations(m, track)
    if found:
        return VOID_STATUS, "; ".join(found)[:4000]
    return status, reason
