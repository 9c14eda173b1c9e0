"""speedrun.rules: every rule a run's own figures must meet, read from the manifest alone
(the runner judges with it, and the server re-checks with it)."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from speedrun.rules import effective_status, violations
from speedrun.tracks import get_track

TRACK = get_track("cpu-tiny")


def honest() -> dict[str, Any]:
    return {
        "variant": {"harness": True},
        "exit": {"status": "completed", "reason": None},
        "figures": {
            "time_ms": 60000.0,
            "val_loss": 1.64,
            "independent_val_loss": 1.64,
            "private_val_loss": 1.65,
            "self_reported_val_loss": 1.63,
            "self_reported_train_time_ms": 59900.0,
            "runner_train_time_ms": 60000.0,
            "time_disagreement": 0.0017,
            "train_tokens": 819200,
        },
        "timing": {
            "problems": [],
            "cap_exceeded": False,
            "pause_cap_exceeded": False,
            "breakdown_ms": {"startup_warmup_ms": 8000.0, "val_pauses_ms": 4000.0},
        },
        "evaluation": {"causality": {"passed": True}},
        "fingerprint": {"data": {"held_out": {"kind": "secret-language", "commitment": "a" * 64}}},
    }


def test_an_honest_run_breaks_no_rule() -> None:
    assert violations(honest(), TRACK) == []
    assert effective_status(honest(), TRACK) == ("completed", None)


BREACHES = {
    "protocol": (("timing", "problems"), ["warmup_end sent more than once"]),
    "untimed cap": (("timing", "cap_exceeded"), True),
    "validation pauses": (("timing", "pause_cap_exceeded"), True),
    "time disagreement": (("figures", "time_disagreement"), 0.5),
    "time unreported": (("figures", "self_reported_train_time_ms"), None),
    "loss disagreement": (("figures", "self_reported_val_loss"), 9.9),
    "token ceiling": (("figures", "train_tokens"), 10**9),
    "causality": (("evaluation", "causality"), {"passed": False}),
    "held-out gap": (("figures", "private_val_loss"), 2.5),
}


@pytest.mark.parametrize("name", sorted(BREACHES))
def test_each_breach_voids_a_completed_run(name: str) -> None:
    (section, field), value = BREACHES[name]
    m = copy.deepcopy(honest())
    m[section][field] = value
    if name == "time unreported":
        m["figures"]["time_disagreement"] = None
    found = violations(m, TRACK)
    assert any(v.startswith(name) for v in found), found
    status, reason = effective_status(m, TRACK)
    assert status == "rule_violation" and reason is not None and name in reason


def test_a_tiny_time_gap_is_jitter_whatever_its_share() -> None:
    m = honest()
    fig = m["figures"]
    fig["runner_train_time_ms"], fig["self_reported_train_time_ms"] = 1.2, 1.0
    fig["time_disagreement"] = (1.2 - 1.0) / 1.2
    assert violations(m, TRACK) == []
    fig["runner_train_time_ms"], fig["time_disagreement"] = 100.0, 0.99
    assert violations(m, TRACK)[0].startswith("time disagreement")


def test_a_held_out_run_without_its_private_loss_is_void() -> None:
    m = honest()
    m["figures"]["private_val_loss"] = None
    assert violations(m, TRACK) == ["held-out: the private slice was not scored"]


def test_a_public_data_run_needs_no_private_loss() -> None:
    m = honest()
    m["fingerprint"]["data"]["held_out"] = {"kind": "none"}
    m["figures"]["private_val_loss"] = None
    assert violations(m, TRACK) == []


def test_failed_runs_keep_their_status_and_legacy_runs_have_no_harness_rules() -> None:
    m = honest()
    m["exit"] = {"status": "timeout", "reason": "killed at the limit"}
    m["timing"]["cap_exceeded"] = True
    assert effective_status(m, TRACK) == ("timeout", "killed at the limit")
    legacy = honest()
    legacy["variant"]["harness"] = False
    legacy["figures"]["time_disagreement"] = 0.9
    assert violations(legacy, TRACK) == []
