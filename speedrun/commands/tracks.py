"""`speedrun tracks [--json] [--all]`: the tracks and their rules."""

from __future__ import annotations

import argparse
import json
from typing import Any

from speedrun.tracks import Track, list_tracks


def register(sub: Any) -> None:
    p = sub.add_parser("tracks", help="list the tracks and their rules")
    p.add_argument("--json", action="store_true", help="print every field as JSON")
    p.add_argument("--all", action="store_true", help="include hidden (test-only) tracks")
    p.set_defaults(handler=run)


def describe(t: Track) -> str:
    head = (
        f"{t.key}  {t.title}"
        + ("  [hidden]" if t.hidden else "")
        + ("  [imported history: accepts no runs]" if t.family == "imported" else "")
    )
    return "\n".join([head, *(f"  {label + ':':9s} {text}" for label, text in rule_lines(t))])


def rule_lines(t: Track) -> list[tuple[str, str]]:
    """Every rule of the track as (label, sentence): what `speedrun tracks` prints, and what
    the site's "take part" page shows."""
    r, s = t.rules, t.scale
    return [
        ("data", f"{t.dataset.source} @ {t.dataset.revision[:12]}, val = first "
         f"{t.dataset.val_tokens:,} tokens of {t.dataset.val_file.name}"),
        ("target", f"mean val loss < {r.target_val_loss} over >= {r.runs_required} runs, "
         f"one-sided t-test p < {r.significance_alpha}"),
        ("beat", f"Welch t-test on time p < {r.beat_alpha}, at least {r.min_speedup:.1%} faster"
         + (", paired A/B against the record" if r.paired_ab else "")),
        ("hardware", f"{t.hardware.klass}; launcher: {' '.join(t.launcher.command)} "
         f"({t.launcher.backend})"),
        ("model", f"{s.n_layer} layers x {s.n_embd} wide, seq {s.seq_len}, "
         f"{s.batch_tokens:,} tokens/step on {s.device}"),
        ("limits", f"{t.limits.wall_clock_s} s wall clock; untimed: startup + warmup up to "
         f"{t.limits.untimed_cap_s} s, validation pauses up to {t.limits.val_pause_share:.0%} "
         f"of the timed time, {t.limits.export_allowance_s} s from done to export"),
        ("fails", f"script vs runner time off by > {r.time_tolerance:.0%}, self-reported vs "
         f"independent loss by > {r.loss_tolerance:.0%}, any event-protocol breach or cap "
         "exceeded"),
        ("held out", _held_out(t)),
    ]  # fmt: skip


def _held_out(t: Track) -> str:
    ev = t.evaluation
    if ev.held_out == "none":
        return "none (the scored slice is public data)"
    what = {
        "secret-language": "the language, shards and slices derive from the runners' secret",
        "private-slice": "runners hold a private slice",
    }[ev.held_out]
    return (
        f"{what}; {ev.private_slice_tokens:,} private tokens scored too, a gap over "
        f"{ev.held_out_tolerance} nats fails the run"
    )


def run(args: argparse.Namespace) -> int:
    tracks = list_tracks(include_hidden=args.all or args.json)
    if args.json:
        print(json.dumps([t.to_dict() for t in tracks], indent=2))
    else:
        print("\n\n".join(describe(t) for t in tracks))
    return 0
