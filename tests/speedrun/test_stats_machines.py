"""Significance tests that know machines (speedrun.stats.by_machine): runs from one machine
are tested as they are, runs from several as one mean per machine (n = machines)."""

from __future__ import annotations

import math

import pytest

from speedrun import stats


def test_one_machine_keeps_the_runs() -> None:
    s = stats.by_machine([1.0, 2.0, 3.0], ["a", "a", "a"])
    assert s.values == (1.0, 2.0, 3.0) and s.unit == "run" and s.machines == 1
    assert s.describe() == "3 runs"
    assert stats.by_machine([], []).unit == "run"


def test_several_machines_give_one_mean_each_in_order_of_first_sight() -> None:
    s = stats.by_machine([1.0, 10.0, 3.0, 20.0], ["a", "b", "a", "b"])
    assert s.values == (2.0, 15.0) and s.unit == "machine" and (s.machines, s.runs) == (2, 4)
    assert s.describe() == "2 per-machine means of 4 runs"
    unknown = stats.by_machine([1.0, 2.0, 3.0], [None, "a", None])
    assert unknown.values == (2.0, 2.0) and unknown.machines == 2


def test_lengths_must_agree() -> None:
    with pytest.raises(ValueError):
        stats.by_machine([1.0], [])


def test_a_spread_of_machines_weakens_the_welch_test() -> None:
    """Six fast runs, three on each of two machines, against a record's six: per run the
    candidate is faster at p far below 0.01; per machine (two means) it is not."""
    cand = [95.0, 95.1, 94.9, 97.0, 97.1, 96.9]
    cand_machines = ["a", "a", "a", "b", "b", "b"]
    record = [100.0, 100.2, 99.8, 100.1, 99.9, 100.0]
    per_run = stats.p_faster(cand, record)
    s = stats.by_machine(cand, cand_machines)
    per_machine = stats.p_faster(s.values, record)
    assert per_run < 1e-3 and per_machine > 0.01, (per_run, per_machine)


def test_per_machine_means_can_also_be_the_sharper_test() -> None:
    """Noisy runs whose machine means agree: per run the loss is not significantly below
    the target; per machine (the noise averaged within each) it is."""
    losses = [3.0, 3.5, 3.0, 3.5, 3.01, 3.49, 3.01, 3.49]
    machines = ["a", "a", "b", "b", "c", "c", "d", "d"]
    per_run = stats.p_mean_below(losses, 3.3)
    per_machine = stats.p_mean_below(stats.by_machine(losses, machines).values, 3.3)
    assert per_run > 0.05 and per_machine < 0.01, (per_run, per_machine)
    assert not math.isnan(per_machine)
