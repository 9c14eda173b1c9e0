"""The shared statistics agree with scipy's reference computations and handle edge cases."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats as sps

from speedrun import stats


def test_summarize_matches_numpy() -> None:
    values = [3.27, 3.281, 3.275, 3.279, 3.2702]
    s = stats.summarize(values)
    assert s.n == 5
    assert s.mean == pytest.approx(np.mean(values))
    assert s.std == pytest.approx(np.std(values, ddof=1))
    assert s.sem == pytest.approx(np.std(values, ddof=1) / math.sqrt(5))


def test_p_mean_below_matches_scipy_one_sided() -> None:
    values = [3.2762, 3.2771, 3.2768, 3.2775, 3.2759]
    expected = sps.ttest_1samp(values, 3.28, alternative="less").pvalue
    assert stats.p_mean_below(values, 3.28) == pytest.approx(expected)
    assert stats.p_mean_below(values, 3.28) < 0.01
    assert stats.p_mean_below([3.29, 3.285, 3.30], 3.28) > 0.5


def test_p_mean_below_edge_cases() -> None:
    assert math.isnan(stats.p_mean_below([3.0], 3.28))
    assert stats.p_mean_below([3.0, 3.0], 3.28) == 0.0
    assert stats.p_mean_below([3.5, 3.5], 3.28) == 1.0


def test_p_faster_is_welch_one_sided() -> None:
    cand = [100.0, 101.0, 99.5, 100.2]
    rec = [104.0, 103.1, 105.2, 104.4, 103.9]
    expected = sps.ttest_ind(cand, rec, equal_var=False, alternative="less").pvalue
    assert stats.p_faster(cand, rec) == pytest.approx(expected)
    assert stats.p_faster(rec, cand) > 0.99


def test_paired_speedup_detects_real_speedup() -> None:
    rng = np.random.default_rng(0)
    base = 100 + rng.normal(0, 0.5, 8)
    cand = base / 1.05 + rng.normal(0, 0.2, 8)
    r = stats.paired_speedup(list(base), list(cand))
    assert r.ci_low < 1.05 < r.ci_high or abs(r.speedup - 1.05) < 0.01
    assert r.ci_low > 1.0
    assert r.welch_p < 0.01


def test_paired_speedup_of_identical_variants_is_not_significant() -> None:
    rng = np.random.default_rng(1)
    a = 100 + rng.normal(0, 1, 10)
    b = 100 + rng.normal(0, 1, 10)
    r = stats.paired_speedup(list(a), list(b))
    assert r.ci_low < 1.0 < r.ci_high
    assert r.p_two_sided > 0.05


def test_paired_speedup_rejects_unpaired_input() -> None:
    with pytest.raises(ValueError):
        stats.paired_speedup([1.0, 2.0], [1.0])
