"""Step lines (`step:N/M val_loss:X train_time:Yms step_avg:Zms`, llm.c's `s:N tel:X`) parsed
into points, and grouped into runs (speedrun.logparse's internals)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from itertools import pairwise

from speedrun.logparse.text import nan_to_none, to_int


@dataclass(frozen=True, slots=True)  # slots: a 20k-step llm.c log holds 20k of these
class StepPoint:
    step: int
    total_steps: int | None
    val_loss: float | None = None
    train_loss: float | None = None
    train_time_ms: float | None = None
    step_avg_ms: float | None = None


@dataclass(slots=True)
class StepLine:
    index: int  # line number - 1
    end: int  # offset in the text where the matched line ends
    point: StepPoint
    is_val: bool
    seconds: bool = False  # train_time was logged in seconds (track 3)
    llmc: bool = False
    complete: bool = True  # ends with the field a finished line ends with


# Every pattern below (and in speedrun.logparse.header) is matched against one line, cut to
# MAX_LINE_CHARS, and is linear in it: no two unbounded quantifiers can match the same
# characters (the ReDoS shape, see Russ Cox, "Regular Expression Matching Can Be Simple And
# Fast", 2007, and OWASP's "Regular expression Denial of Service"); where a lazy field
# precedes whitespace, possessive quantifiers (`++`, `*+`) and atomic groups (`(?>...)`, both
# new in Python 3.11) forbid the engine to give characters back.

# A modern step line (`step:N/M ...`) or an llm.c one (`s:N tel:X`); a `step:` line without
# N/M is kept as malformed.
STEP_PREFIXES = ("step:", "s:")
STEP_RE = re.compile(
    r"(?:step:(?:(?P<step>\d+)/(?P<total>\d+))?|s:(?P<s>\d+)[ \t]+(?P<kind>tel|trl):)"
    r"(?P<rest>[^\r\n]*)"
)
# The fields of a modern line in their usual order: parsed in one match (the common case).
_FAST_REST_RE = re.compile(
    r" (?:val_loss:(?P<val>\S+) )?(?:train_loss:(?P<train>\S+) )?"
    r"train_time:(?P<time>[0-9.]+|nan)(?P<unit>ms|s) step_avg:(?P<avg>[0-9.]+|nan)ms[ \t]*"
)


def parse_step_match(m: re.Match[str], index: int, offset: int) -> StepLine | None:
    if m.group("step") is None and m.group("s") is None:
        return None
    try:
        if m.group("s") is not None:
            return _parse_llmc(m, index, offset)
        fast = _FAST_REST_RE.fullmatch(m.group("rest"))
        return _parse_fast(m, fast, index, offset) if fast else _parse_fields(m, index, offset)
    except ValueError:
        return None


def _parse_llmc(m: re.Match[str], index: int, offset: int) -> StepLine | None:
    """llm.c: "s:N tel:X" (val loss) or "s:N trl:X lr:.. norm:.." (train loss)."""
    rest = m.group("rest").split(None, 1)
    if not rest:
        return None
    loss = nan_to_none(float(rest[0]))
    step = to_int(m.group("s"))
    end = offset + m.end()
    if m.group("kind") == "tel":
        return StepLine(index, end, StepPoint(step, None, val_loss=loss), True, llmc=True)
    return StepLine(index, end, StepPoint(step, None, train_loss=loss), False, llmc=True)


def _parse_fast(m: re.Match[str], fast: re.Match[str], index: int, offset: int) -> StepLine:
    val, train, time, unit, avg = fast.group("val", "train", "time", "unit", "avg")
    time_ms = nan_to_none(float(time))
    seconds = unit == "s"
    if seconds and time_ms is not None:
        time_ms = round(time_ms * 1000, 6)
    point = StepPoint(
        to_int(m.group("step")),
        to_int(m.group("total")),
        nan_to_none(float(val)) if val is not None else None,
        nan_to_none(float(train)) if train is not None else None,
        time_ms,
        nan_to_none(float(avg)),
    )
    return StepLine(index, offset + m.end(), point, val is not None, seconds)


def _parse_fields(m: re.Match[str], index: int, offset: int) -> StepLine:
    """Any other order or set of `key:value` fields; unknown keys are ignored."""
    values: dict[str, float | None] = {}
    seconds = False
    for token in m.group("rest").split():
        key, sep, value = token.partition(":")
        if not sep:
            raise ValueError(token)
        if key == "train_time":
            seconds = value.endswith("s") and not value.endswith("ms")
            number = nan_to_none(float(value.removesuffix("ms").removesuffix("s")))
            values["train_time_ms"] = round(number * 1000, 6) if seconds and number else number
        elif key in ("val_loss", "train_loss"):
            values[key] = nan_to_none(float(value))
        elif key == "step_avg":
            values["step_avg_ms"] = nan_to_none(float(value.removesuffix("ms")))
    rest = m.group("rest").rstrip()
    point = StepPoint(to_int(m.group("step")), to_int(m.group("total")), **values)
    complete = "step_avg:" in rest and rest.endswith("ms")
    end = offset + m.end()
    return StepLine(index, end, point, "val_loss" in values, seconds, complete=complete)


def split_runs(lines: list[StepLine]) -> list[tuple[list[StepLine], list[StepLine]]]:
    """Group step lines into (warmup, main) per run: a run starts at a step-0 val line, and
    its steps never decrease; leftovers before the next start are that run's warmup."""
    starts = [i for i, ln in enumerate(lines) if ln.point.step == 0 and ln.is_val] or [0]
    runs: list[tuple[list[StepLine], list[StepLine]]] = []
    pending = lines[: starts[0]]
    if pending and _is_complete(pending):
        runs.extend(([], chunk) for chunk in _split_on_decrease(pending))
        pending = []
    for k, start in enumerate(starts):
        end = starts[k + 1] if k + 1 < len(starts) else len(lines)
        main, rest = _monotone_prefix(lines[start:end])
        runs.append((pending, main))
        pending = []
        if rest and k + 1 < len(starts) and not _is_complete(rest):
            pending = rest
        elif rest:
            runs.extend(([], chunk) for chunk in _split_on_decrease(rest))
    return runs


def _monotone_prefix(lines: list[StepLine]) -> tuple[list[StepLine], list[StepLine]]:
    for i in range(1, len(lines)):
        if lines[i].point.step < lines[i - 1].point.step:
            return lines[:i], lines[i:]
    return lines, []


def _split_on_decrease(lines: list[StepLine]) -> list[list[StepLine]]:
    """The monotone runs of `lines`, cut in one pass (cutting prefix after prefix copied the
    rest each time: quadratic in a log of steps that keep decreasing)."""
    cuts = [i for i in range(1, len(lines)) if lines[i].point.step < lines[i - 1].point.step]
    return [lines[a:b] for a, b in pairwise([0, *cuts, len(lines)]) if a < b]


def _is_complete(lines: list[StepLine]) -> bool:
    return any(ln.is_val and ln.point.step == ln.point.total_steps for ln in lines)
