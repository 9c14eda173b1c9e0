"""The statistics a claim is judged by, shared by the runner's summary and the server.

* a claim's loss: one-sided one-sample t-test that the mean val loss is below the target;
* beating a record: one-sided Welch t-test that the candidate's mean time is lower, plus the
  track's minimum speedup;
* paired A/B (interleaved runs on one machine): the speedup as the geometric mean of
  per-pair time ratios with a t confidence interval on their logs, and Welch's test beside it.

Runs from more than one machine are tested as one mean per machine (`by_machine`): runs on
one node share its host, clocks and power cap, so they are not independent draws of the
code's speed, and n is the number of machines. This is the conservative test the speedrun's
contributors apply by hand when a claim's runs were spread over nodes. To be conservative in
fact, a claim spread over machines must pass the test over its runs as well: the larger
p-value decides (`p_mean_below_sample`, `p_faster_samples`). Over a handful of means the
test is not always the stricter one: two machine means that happen to agree give a tiny p
(zero when they agree exactly) however noisy the runs, so the machine test alone would let
a claim pass by where its runs ran, or by a runner naming one machine twice.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

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


@dataclass(frozen=True)
class Sample:
    """What a significance test runs over: the runs, or one mean per machine."""

    values: tuple[float, ...]
    unit: Literal["run", "machine"]
    machines: int  # distinct machines the values came from
    runs: int
    run_values: tuple[float, ...] = ()  # the runs themselves (== values when unit is "run")

    def describe(self) -> str:
        if self.unit == "run":
            return f"{self.runs} runs"
        return f"{self.machines} per-machine means of {self.runs} runs"


def by_machine(values: Sequence[float], machines: Sequence[str | None]) -> Sample:
    """`values` as a test should see them: as they are when they came from one machine
    (or none is known), else the mean of each machine's values, in order of first sight.
    A run of unknown machine (None) counts as a machine of its own kind."""
    if len(values) != len(machines):
        raise ValueError("one machine per value")
    groups: dict[str | None, list[float]] = {}
    for value, machine in zip(values, machines, strict=True):
        groups.setdefault(machine, []).append(value)
    if len(groups) <= 1:
        return Sample(tuple(values), "run", len(groups), len(values), tuple(values))
    means = tuple(math.fsum(g) / len(g) for g in groups.values())
    return Sample(means, "machine", len(groups), len(values), tuple(values))


def _stricter(p_runs: float, p_machines: float) -> float:
    """The larger p-value; NaN when either test is undefined."""
    return math.nan if math.isnan(p_runs) or math.isnan(p_machines) else max(p_runs, p_machines)


def p_mean_below_sample(sample: Sample, target: float) -> float:
    """`p_mean_below` of a claim: over its runs, and when they came from several machines
    over the per-machine means too, the larger p (never easier than the runs alone)."""
    p = p_mean_below(sample.run_values or sample.values, target)
    return _stricter(p, p_mean_below(sample.values, target)) if sample.unit == "machine" else p


def p_faster_samples(candidate: Sample, record: Sample) -> float:
    """`p_faster` of two samples: over the runs, and when either side came from several
    machines over the per-machine means too, the larger p."""
    p = p_faster(candidate.run_values or candidate.values, record.run_values or record.values)
    if "machine" not in (candidate.unit, record.unit):
        return p
    return _stricter(p, p_faster(candidate.values, record.values))


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
