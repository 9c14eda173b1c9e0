"""The per-machine tests are conservative in fact (speedrun.stats.p_mean_below_sample,
p_faster_samples): a claim spread over machines, or a runner that names one machine as
several, never passes where its runs alone do not; runs from one machine (all existing
single-machine data) are decided exactly as before."""

from __future__ import annotations

import random

import pytest

from speedrun import stats

TARGET = 1.70


def _same(a: float, b: float) -> bool:
    return a == b or (a != a and b != b)  # NaN alike: too few runs for a test


def test_one_machine_is_decided_exactly_as_before() -> None:
    rng = random.Random(17)
    for _ in range(200):
        n = rng.randint(1, 8)
        losses = [rng.gauss(1.6, 0.1) for _ in range(n)]
        one = rng.choice(["m-a", None])
        sample = stats.by_machine(losses, [one] * n)
        old = stats.p_mean_below(losses, TARGET)
        new = stats.p_mean_below_sample(sample, TARGET)
        assert _same(new, old)
        record = [rng.gauss(100, 1) for _ in range(3)]
        theirs = stats.by_machine(record, ["m-r"] * 3)
        assert _same(stats.p_faster_samples(sample, theirs), stats.p_faster(losses, record))


def test_machine_means_that_agree_do_not_rescue_noisy_runs() -> None:
    losses, machines = [1.35, 1.85, 1.601], ["a", "a", "b"]
    sample = stats.by_machine(losses, machines)
    assert stats.p_mean_below(sample.values, TARGET) < 0.01  # the machine test alone
    assert stats.p_mean_below_sample(sample, TARGET) == stats.p_mean_below(losses, TARGET) > 0.01


def test_identical_machine_means_are_no_zero_variance_pass() -> None:
    """A deterministic variant that gives each machine the same spread of losses: its
    machine means agree exactly, and zero variance alone would read as p = 0."""
    losses, machines = [1.55, 1.84, 1.55, 1.84], ["a", "a", "b", "b"]
    sample = stats.by_machine(losses, machines)
    assert stats.p_mean_below(sample.values, TARGET) == 0.0
    assert stats.p_mean_below_sample(sample, TARGET) > 0.05


def test_one_run_per_machine_is_the_per_run_test() -> None:
    losses = [1.61, 1.66, 1.58, 1.64]
    sample = stats.by_machine(losses, ["a", "b", "c", "d"])
    assert sample.unit == "machine" and sample.machines == 4
    p = stats.p_mean_below_sample(sample, TARGET)
    assert p == pytest.approx(stats.p_mean_below(losses, TARGET))
    two = stats.by_machine([1.61, 1.66], ["a", "b"])  # the smallest spread: n = 2, not broken
    assert 0 < stats.p_mean_below_sample(two, TARGET) < 1


def test_a_candidate_split_over_named_machines_is_no_faster() -> None:
    """Noisy candidate runs put on two "machines" whose means agree: Welch over the two
    means crowns them; over the runs they are not faster."""
    cand, record = [90.0, 104.0, 90.2, 104.0], [100.0, 100.2, 99.8, 100.1]
    mine = stats.by_machine(cand, ["a", "a", "b", "b"])
    theirs = stats.by_machine(record, ["r"] * 4)
    assert stats.p_faster(mine.values, theirs.values) < 0.05
    assert stats.p_faster_samples(mine, theirs) == stats.p_faster(cand, record) > 0.05


def test_no_grouping_makes_a_claim_easier_than_its_runs() -> None:
    rng = random.Random(4)
    for _ in range(300):
        n = rng.randint(2, 9)
        losses = [rng.gauss(1.62, 0.08) for _ in range(n)]
        machines = [rng.choice("abcd") for _ in range(n)]
        sample = stats.by_machine(losses, machines)
        assert stats.p_mean_below_sample(sample, TARGET) >= stats.p_mean_below(losses, TARGET)
        record = [rng.gauss(1.7, 0.05) for _ in range(rng.randint(2, 6))]
        theirs = stats.by_machine(record, [rng.choice("xy") for _ in record])
        assert stats.p_faster_samples(sample, theirs) >= stats.p_faster(losses, record)
