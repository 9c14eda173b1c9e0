"""The statistics a claim is judged by, shared by the runner's summary and the server.

* a claim's loss: one-sided one-sample t-test that the mean val loss is below the target;
* beating a record: one-sided Welch t-test that the candidate's mean time is lower, plus the
  track's minimum speedup;
* paired A/B (interleaved runs on one machine): the speedup as the geometric mean of
  per-pair time ratios with a t confidence interval on their logs, and Welch's test beside it.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from scipy import stats as sps


@dataclass(frozen=True)
class Summary:
    n: int
    mean: float
    std: float  # sample standard deviation (ddof=1); 0 for a single value

    @property
    def sem(self) -> float:
        return self.std / math.sqrt(self.n) if self.n > 1 else math.inf


def summarize(values: Sequence[float]) -> Summary:
    if not values:
        raise ValueError("no values to summarize")
    n = len(values)
    mean = math.fsum(values) / n
    var = math.fsum((v - mean) ** 2 for v in values) / (n - 1) if n > 1 else 0.0
    return Summary(n=n, mean=mean, std=math.sqrt(var))


def p_mean_below(values: Sequence[float], target: float) -> float:
    """One-sided p-value for H1: mean(values) < target. NaN when undefined (n < 2)."""
    if len(values) < 2:
        return math.nan
    if len(set(values)) == 1:  # zero variance: the t statistic is +-inf or undefined
        return 0.0 if values[0] < target else 1.0
    return float(sps.ttest_1samp(list(values), target, alternative="less").pvalue)


def p_faster(candidate_ms: Sequence[float], record_ms: Sequence[float]) -> float:
    """One-sided Welch p-value for H1: mean(candidate) < mean(record)."""
    if len(candidate_ms) < 2 or len(record_ms) < 2:
        return math.nan
    result = sps.ttest_ind(list(candidate_ms), list(record_ms), equal_var=False, alternative="less")
    p = float(result.pvalue)
    if math.isnan(p):  # both samples constant
        return 0.0 if candidate_ms[0] < record_ms[0] else 1.0
    return p


@dataclass(frozen=True)
class PairedSpeedup:
    pairs: int
    speedup: float  # baseline time / candidate time (geometric mean over pairs)
    ci_low: float
    ci_high: float
    confidence: float
    welch_p: float  # one-sided: candidate faster than baseline
    p_two_sided: float  # paired t-test on log ratios: any difference at all


def paired_speedup(
    baseline_ms: Sequence[float], candidate_ms: Sequence[float], *, confidence: float = 0.95
) -> PairedSpeedup:
    """Speedup of candidate over baseline from interleaved pairs (i-th with i-th)."""
    if len(baseline_ms) != len(candidate_ms) or len(baseline_ms) < 2:
        raise ValueError("paired A/B needs two equally long series of at least 2 runs")
    logs = [math.log(b / c) for b, c in zip(baseline_ms, candidate_ms, strict=True)]
    s = summarize(logs)
    if s.std == 0:
        low = high = s.mean
        p_two = 0.0 if s.mean != 0 else 1.0
    else:
        half = float(sps.t.ppf(0.5 + confidence / 2, s.n - 1)) * s.sem
        low, high = s.mean - half, s.mean + half
        p_two = float(sps.ttest_1samp(logs, 0.0).pvalue)
    return PairedSpeedup(
        pairs=s.n,
        speedup=math.exp(s.mean),
        ci_low=math.exp(low),
        ci_high=math.exp(high),
        confidence=confidence,
        welch_p=p_faster(candidate_ms, baseline_ms),
        p_two_sided=p_two,
    )
