"""Statistics over a record's runs, and the `statistics.md` summaries some records ship.

The speedrun's rule: a record's mean final val loss must be below the track's target with a
one-sided t-test p < 0.01 (the snippet the records print: scipy's `ttest_1samp(losses,
target, alternative="less")`, computed once for the project in `speedrun.stats`). Times are
the train_time of each run's final line.

`statistics.md` is text from outside, so its patterns are linear: a metric row is matched
within its line, whitespace runs are possessive, and a pattern anchored at a line start never
runs on across the blank lines after it (`tests/speedrun/test_logparse_hostile.py` times them).
"""

from __future__ import annotations

import math
import re
import statistics
from collections.abc import Sequence
from dataclasses import dataclass, field

from speedrun.stats import p_mean_below

__all__ = ["RunStats", "StatisticsDoc", "one_sided_p_value", "parse_statistics_md", "summarize"]


@dataclass(frozen=True)
class RunStats:
    n_runs: int
    target_val_loss: float
    val_losses: tuple[float, ...]
    train_times_ms: tuple[float, ...]
    mean_val_loss: float | None
    std_val_loss: float | None  # sample standard deviation (ddof=1)
    p_value: float | None  # one-sided t-test of mean val loss < target; None below 2 runs
    mean_train_time_ms: float | None
    std_train_time_ms: float | None

    @property
    def significant(self) -> bool:
        """Mean below target at p < 0.01, the main track's rule."""
        return self.p_value is not None and self.p_value < 0.01


def one_sided_p_value(losses: Sequence[float], target: float) -> float | None:
    """p-value that the mean of `losses` is below `target`; None when it is undefined."""
    p = p_mean_below(losses, target)
    return None if math.isnan(p) else p


def summarize(
    val_losses: Sequence[float | None],
    train_times_ms: Sequence[float | None],
    *,
    target_val_loss: float,
) -> RunStats:
    """Statistics over the runs' final losses and times; missing values are left out."""
    losses = tuple(v for v in val_losses if v is not None)
    times = tuple(t for t in train_times_ms if t is not None)
    return RunStats(
        n_runs=max(len(val_losses), len(train_times_ms)),
        target_val_loss=target_val_loss,
        val_losses=losses,
        train_times_ms=times,
        mean_val_loss=statistics.fmean(losses) if losses else None,
        std_val_loss=statistics.stdev(losses) if len(losses) > 1 else None,
        p_value=one_sided_p_value(losses, target_val_loss),
        mean_train_time_ms=statistics.fmean(times) if times else None,
        std_train_time_ms=statistics.stdev(times) if len(times) > 1 else None,
    )


@dataclass(frozen=True)
class StatisticsDoc:
    """What a record's `statistics.md` claims (written by the submitter, not measured)."""

    path: str
    runs: int | None
    metrics: dict[str, str] = field(default_factory=dict)  # the "| metric | value |" table
    val_losses: tuple[float, ...] = ()
    train_times_s: tuple[float, ...] = ()

    def metric(self, name: str) -> float | None:
        """A metric's leading number, e.g. metric("mean train time") -> 79.684923."""
        m = re.match(r"\s*`?(-?\d+(?:\.\d+)?(?:e-?\d+)?)", self.metrics.get(name, ""))
        return float(m.group(1)) if m else None


# "| name | value |", one line: a cell ends on a non-space and whitespace runs are possessive
# (`([^|]+?)\s*\|` rescanned a run of spaces from each of its characters: quadratic)
_METRIC_ROW_RE = re.compile(r"\|\s*+([^|]*?[^|\s])\s*+\|\s*+([^|]*?[^|\s])\s*+\|\s*+")
# [^\S\n]: whitespace within the line (`^\s*` ran across blank lines from every line start);
# \d{1,9}: int() of a 5,000-digit count raised
_RUNS_RE = re.compile(
    r"^[^\S\n]*+[-*][^\S\n]*+runs:\s*+`?(\d{1,9})(?!\d)`?", re.MULTILINE | re.IGNORECASE
)
# `\s*\n+` (two quantifiers that both match newlines) becomes whitespace lines, each ended
# by its newline
_LIST_AFTER_RE = r"^{label}:?(?:[^\S\n]*+\n)++```[a-z]*+\n\s*+\[([^\]]*+)\]"


def parse_statistics_md(text: str, *, path: str) -> StatisticsDoc:
    rows = filter(None, map(_METRIC_ROW_RE.fullmatch, text.split("\n")))
    metrics = {
        m.group(1).lower(): m.group(2)
        for m in rows
        if not set(m.group(2)) <= set("-: ") and m.group(1).lower() != "metric"
    }
    runs = _RUNS_RE.search(text)
    return StatisticsDoc(
        path=path,
        runs=int(runs.group(1)) if runs else None,
        metrics=metrics,
        val_losses=_number_list(text, "Losses"),
        train_times_s=_number_list(text, "Times"),
    )


def _number_list(text: str, label: str) -> tuple[float, ...]:
    m = re.search(_LIST_AFTER_RE.format(label=label), text, re.MULTILINE | re.IGNORECASE)
    if not m:
        return ()
    try:
        return tuple(float(x) for x in m.group(1).replace("\n", " ").split(",") if x.strip())
    except ValueError:
        return ()
