"""speedrun.history.stats: statistics over a record's runs (the speedrun's one-sided t-test
against the target, as scipy computes it) and what a record's `statistics.md` claims."""

from __future__ import annotations

import statistics

import pytest
from scipy import stats as scipy_stats

from speedrun.history.stats import one_sided_p_value, parse_statistics_md, summarize

LOSSES = [3.275, 3.279, 3.277, 3.276]
TIMES = [180_500.0, 181_000.0, 179_900.0, 180_200.0]


def test_summary_matches_scipy_and_the_sample_statistics() -> None:
    s = summarize(LOSSES, TIMES, target_val_loss=3.28)
    assert s.n_runs == 4 and s.val_losses == tuple(LOSSES)
    assert s.mean_val_loss == pytest.approx(statistics.fmean(LOSSES))
    assert s.std_val_loss == pytest.approx(statistics.stdev(LOSSES))
    expected = scipy_stats.ttest_1samp(LOSSES, 3.28, alternative="less").pvalue
    assert s.p_value == pytest.approx(expected, rel=1e-9)
    assert s.significant == (expected < 0.01)
    assert s.mean_train_time_ms == pytest.approx(statistics.fmean(TIMES))


def test_missing_values_are_left_out_but_runs_are_counted() -> None:
    s = summarize([3.27, None, 3.26], [None, None, 1000.0], target_val_loss=3.28)
    assert s.n_runs == 3 and s.val_losses == (3.27, 3.26) and s.train_times_ms == (1000.0,)
    assert s.std_train_time_ms is None  # one time: no spread


def test_too_few_runs_have_no_p_value_and_are_never_significant() -> None:
    one = summarize([3.0], [1.0], target_val_loss=3.28)
    assert one.p_value is None and not one.significant and one.std_val_loss is None
    none = summarize([], [], target_val_loss=3.28)
    assert none.n_runs == 0 and none.mean_val_loss is None and none.p_value is None
    # no spread at all: certainly below (or not below) the target
    assert one_sided_p_value([3.27, 3.27, 3.27], 3.28) == 0.0
    assert one_sided_p_value([3.29, 3.29, 3.29], 3.28) == 1.0


def test_a_mean_above_the_target_is_not_significant() -> None:
    s = summarize([3.29, 3.30, 3.31], [], target_val_loss=3.28)
    assert s.p_value is not None and s.p_value > 0.5 and not s.significant


STATISTICS_MD = """# Statistics

- runs: `12`

| Metric | Value |
| --- | --- |
| Mean train time | 79.684923 s |
| p-value | `0.0031` |
| empty | --- |

Losses:
```python
[3.2781, 3.2779,
 3.2790]
```

Times:

```
[79.6, 79.8]
```
"""


def test_a_statistics_md_is_read_for_its_claims() -> None:
    doc = parse_statistics_md(STATISTICS_MD, path="records/x/statistics.md")
    assert doc.path == "records/x/statistics.md" and doc.runs == 12
    assert doc.metric("mean train time") == pytest.approx(79.684923)
    assert doc.metric("p-value") == pytest.approx(0.0031)
    assert "empty" not in doc.metrics and "metric" not in doc.metrics  # separators, header
    assert doc.val_losses == (3.2781, 3.2779, 3.2790)
    assert doc.train_times_s == (79.6, 79.8)


def test_a_statistics_md_without_claims_or_with_bad_lists_claims_nothing() -> None:
    doc = parse_statistics_md("just prose\n\nLosses:\n```\n[3.1, three]\n```\n", path="s.md")
    assert doc.runs is None and doc.metrics == {} and doc.val_losses == ()
    assert doc.metric("anything") is None
