"""Parse training logs of every modded-nanogpt era into typed runs.

A speedrun log is what `train_gpt.py` writes: usually its own source code, a line of `=`, the
software versions and the `nvidia-smi` table, another line of `=`, then one line per step
(`step:N/M val_loss:X train_time:Yms step_avg:Zms`) and a final peak-memory line. The eras
differ in the details; `ParsedRun.format` names the one a run was written in:

    llmc    llm.c's own logs: `s:N tel:X` (val loss) and `s:N trl:X lr:.. norm:..` (train
            loss); no times, no header (the 45-minute baseline, the June 2024 AdamW baseline)
    2024    the grace-period era (Oct 2024 - Jan 2025, records up to #21): the first 10 steps
            are untimed, so train_time restarts near zero at step 11 and step_avg is `nan`
            until then; the oldest logs open with a line of `=` before the code
    2025    the modern format (Feb 2025 on): the clock runs from step 0, kernels are warmed up
            before it; train lines may carry no loss; late logs may log warmup lines before
            `step:0`. `format_step_line` writes it.
    track3  the optimization track: train_time in seconds, val loss with 5 decimals, many runs
            appended to one file under a single header
    harness this project's own variants: the 2025 line format, from code that imports
            `speedrun.harness` (decided by `speedrun.harness.is_harness_variant`)

One text may hold several runs (track 3, or logs concatenated by hand): a run starts at its
`step:0` validation line, and step lines logged before it are that run's warmup.

Logs are untrusted text (uploaded bundles, the speedrun's history) parsed in the runner's loop
and on public page views, so the parse is linear in the text's size, with a small constant.
The text is split into lines once and every line is cut to `MAX_LINE_CHARS` before a regex
sees it (a longer line keeps its head, and the run's warnings say so; the code a log opens
with is kept whole); headers and the peak-memory line are looked for only in the few lines
where the format puts them, and a log holds at most `MAX_RUNS` runs; and no pattern has two
unbounded quantifiers that can match the same characters, so none backtracks more than a
constant number of times per character (`tests/speedrun/test_logparse_hostile.py` times them
on hostile input).

The parts: `text` (the lines, cut), `steps` (step lines and how they group into runs),
`header` (code, versions, GPUs, peak memory) and `runs` (`ParsedRun`, the era); this module
holds the entry points and the line limits.
"""

from __future__ import annotations

import os
from bisect import bisect_left
from heapq import merge

from speedrun.errors import LogParseError
from speedrun.harness.runlog import step_line
from speedrun.logparse.header import Header, find_peak, parse_header
from speedrun.logparse.runs import ParsedRun, build_run
from speedrun.logparse.steps import (
    STEP_PREFIXES,
    STEP_RE,
    StepLine,
    StepPoint,
    parse_step_match,
    split_runs,
)
from speedrun.logparse.text import LogText, lines_starting, split_lines

__all__ = [
    "FORMATS",
    "MAX_LINE_CHARS",
    "MAX_RUNS",
    "MAX_WARNINGS",
    "ParsedRun",
    "StepPoint",
    "format_step_line",
    "parse_log",
    "parse_log_file",
]

FORMATS = ("llmc", "2024", "2025", "track3", "harness")
MAX_LINE_CHARS = 4096  # real logs' longest line is 423 characters (a 2025 SoftCap log)
MAX_WARNINGS = 100  # per run; more are counted in one last warning
MAX_RUNS = 1000  # a log holds one run; track 3 appends 20 to a file


def parse_log_file(path: str | os.PathLike[str]) -> list[ParsedRun]:
    """Parse a log file; bytes that are not UTF-8 are replaced, never fatal."""
    with open(path, "rb") as f:
        data = f.read()
    return parse_log(data.decode("utf-8", errors="replace"), source=os.fspath(path))


def parse_log(text: str, *, source: str = "<log>") -> list[ParsedRun]:
    """Parse one log text into its runs, in file order.

    Raises LogParseError when the text holds no recognizable run: empty, binary, no step
    lines, a last step line cut off mid-line, or more than MAX_RUNS runs. Nothing else: any
    text is parsed in time linear in its length.
    """
    _check_is_text(text, source)
    log = split_lines(text, MAX_LINE_CHARS)
    lines, notes = _scan_step_lines(log, source)
    if not lines:
        raise LogParseError(source, _no_steps_reason(log))
    groups = split_runs(lines)
    if len(groups) > MAX_RUNS:
        raise LogParseError(source, f"{len(groups)} runs in one log, more than {MAX_RUNS}")
    firsts = [(warmup or main)[0].index for warmup, main in groups]
    stops = [*firsts[1:], len(log.heads)]
    noted_at = [index for index, _ in notes]
    runs: list[ParsedRun] = []
    header = Header()
    preamble = 0
    for k, (warmup, main) in enumerate(groups):
        parsed = parse_header(log, preamble, firsts[k])
        header = header if parsed.is_empty() else parsed
        peak = find_peak(log, main[-1].index + 1, stops[k])
        preamble = (peak[0] if peak else main[-1].index) + 1
        name = source if len(groups) == 1 else f"{source}#run{k + 1}"
        lower = bisect_left(noted_at, firsts[k] if k else 0)
        run_notes = [msg for _, msg in notes[lower : bisect_left(noted_at, stops[k])]]
        runs.append(build_run(name, header, warmup, main, peak, _cap(run_notes)))
    return runs


def format_step_line(
    step: int,
    total_steps: int,
    *,
    val_loss: float | None = None,
    train_loss: float | None = None,
    train_time_ms: float,
    step_avg_ms: float,
) -> str:
    """The canonical modern step line, e.g. `step:10/100 val_loss:4.1234 train_time:950ms
    step_avg:95.00ms`; `parse_log` (and the speedrun's own tooling) reads it back. Written by
    the harness's `step_line`, the one writer of the format."""
    return step_line(
        step,
        total_steps,
        val_loss=val_loss,
        train_loss=train_loss,
        train_time_ms=train_time_ms,
        step_avg_ms=step_avg_ms,
    )


def _check_is_text(text: str, source: str) -> None:
    if not text.strip():
        raise LogParseError(source, "empty log")
    sample = text[:65536]
    if "\x00" in sample or sample.count("\ufffd") > max(8, len(sample) // 50):
        raise LogParseError(source, "binary data (NUL bytes or invalid UTF-8), not a text log")


def _no_steps_reason(log: LogText) -> str:
    if log.separators:
        return "no step lines: the log stops after its header (the run never reached step 0)"
    return "no step lines found (neither 'step:N/M ...' nor llm.c 's:N tel:X' lines)"


def _scan_step_lines(log: LogText, source: str) -> tuple[list[StepLine], list[tuple[int, str]]]:
    """All well-formed step lines, plus (line index, message) notes: malformed step lines and
    lines cut to MAX_LINE_CHARS, in line order."""
    lines: list[StepLine] = []
    bad: list[tuple[int, str]] = []
    first = _code_end(log)
    heads = log.heads
    for i in lines_starting(heads, first, STEP_PREFIXES):
        if not (m := STEP_RE.match(heads[i])):
            continue
        line = parse_step_match(m, i, log.offset(i))
        if line is None:
            bad.append((i, f"skipped malformed step line: {m.group(0)[:80]!r}"))
        else:
            lines.append(line)
    text = log.text
    last_is_partial = not text.endswith("\n") and bool(bad) and bad[-1][0] == len(heads) - 1
    if last_is_partial or (lines and not lines[-1].complete and lines[-1].end == len(text)):
        tail = heads[-1][:80]
        raise LogParseError(source, f"truncated mid-line at line {len(heads)}: {tail!r}")
    cut = [
        (i, f"line {i + 1} cut to its first {MAX_LINE_CHARS} of {log.chars(i)} characters")
        for i in log.cut[bisect_left(log.cut, first) :]
    ]
    return lines, list(merge(bad, cut))


def _code_end(log: LogText) -> int:
    """The first line after the code a log opens with: step-like lines inside it (a docstring
    quoting a log, say) are not steps. 0 when the log does not open with code."""
    seps = log.separators
    if not seps or STEP_RE.match(log.heads[0]):
        return 0
    if not log.is_blank(0, seps[0]):  # code, then "=" * 100
        return seps[0] + 1
    return seps[1] + 1 if len(seps) > 1 else 0  # 2024: "=" * 100, code, "=" * 100


def _cap(notes: list[str]) -> tuple[str, ...]:
    if len(notes) <= MAX_WARNINGS:
        return tuple(notes)
    return (*notes[:MAX_WARNINGS], f"... and {len(notes) - MAX_WARNINGS} more warnings")
