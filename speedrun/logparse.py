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
"""

from __future__ import annotations

import hashlib
import math
import os
import re
from bisect import bisect_left
from collections import Counter
from dataclasses import dataclass, field
from heapq import merge
from itertools import accumulate, compress, count, islice, pairwise, repeat

from speedrun.errors import LogParseError
from speedrun.harness import is_harness_variant

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
MAX_HEADER_LINES = 2000  # versions and nvidia-smi open the header: ~60 lines for 8 GPUs
MAX_PEAK_LINES = 100  # the peak-memory line follows the last step line
MAX_WARNINGS = 100  # per run; more are counted in one last warning
MAX_RUNS = 1000  # a log holds one run; track 3 appends 20 to a file
_MAX_INT_DIGITS = 18  # a step, GPU index or MiB figure; int() of long strings is quadratic


@dataclass(frozen=True, slots=True)  # slots: a 20k-step llm.c log holds 20k of these
class StepPoint:
    step: int
    total_steps: int | None
    val_loss: float | None = None
    train_loss: float | None = None
    train_time_ms: float | None = None
    step_avg_ms: float | None = None


@dataclass(frozen=True)
class ParsedRun:
    source: str
    format: str
    code: str | None
    code_sha256: str | None
    versions: dict[str, str]
    gpu_model: str | None
    gpu_count: int | None
    val_points: tuple[StepPoint, ...]
    train_points: tuple[StepPoint, ...]
    warmup_points: tuple[StepPoint, ...]
    final_val_loss: float | None
    final_train_time_ms: float | None
    peak_memory_allocated_mib: int | None
    peak_memory_reserved_mib: int | None
    warnings: tuple[str, ...] = ()  # malformed step lines skipped, over-long lines cut

    @property
    def total_steps(self) -> int | None:
        return self.val_points[-1].total_steps if self.val_points else None

    @property
    def completed(self) -> bool:
        """True when the last validation happened at the last step (the run finished)."""
        last = self.val_points[-1] if self.val_points else None
        return last is not None and last.total_steps is not None and last.step == last.total_steps


# Every pattern below is matched against one line, cut to MAX_LINE_CHARS, and is linear in
# it: no two unbounded quantifiers can match the same characters (the ReDoS shape, see Russ
# Cox, "Regular Expression Matching Can Be Simple And Fast", 2007, and OWASP's "Regular
# expression Denial of Service"); where a lazy field precedes whitespace, possessive
# quantifiers (`++`, `*+`) and atomic groups (`(?>...)`, both new in Python 3.11) forbid the
# engine to give characters back.

# A modern step line (`step:N/M ...`) or an llm.c one (`s:N tel:X`); a `step:` line without
# N/M is kept as malformed.
_STEP_PREFIXES = ("step:", "s:")
_STEP_RE = re.compile(
    r"(?:step:(?:(?P<step>\d+)/(?P<total>\d+))?|s:(?P<s>\d+)[ \t]+(?P<kind>tel|trl):)"
    r"(?P<rest>[^\r\n]*)"
)
# The fields of a modern line in their usual order: parsed in one match (the common case).
_FAST_REST_RE = re.compile(
    r" (?:val_loss:(?P<val>\S+) )?(?:train_loss:(?P<train>\S+) )?"
    r"train_time:(?P<time>[0-9.]+|nan)(?P<unit>ms|s) step_avg:(?P<avg>[0-9.]+|nan)ms[ \t]*"
)
_RULER = "=" * 40
_SEPARATOR_RE = re.compile(r"={40,}[ \t]*\r?")  # fullmatch on a line
_PEAK_RE = re.compile(
    r"peak memory (?:allocated|consumption): (\d+) MiB(?:[ \t]+reserved: (\d+) MiB)?"
)
# Matched at the start of a header line; the first line that matches gives the version.
_VERSION_RES = (
    ("python", re.compile(r"Running Python (\S+)")),
    ("torch", re.compile(r"Running pytorch (\S+)", re.IGNORECASE)),
    ("cuda", re.compile(r"Running pytorch \S+ compiled for CUDA (\d\S*)", re.IGNORECASE)),
    ("triton", re.compile(r"Running Triton version (\S+)")),
    ("driver", re.compile(r".*?Driver Version: (\S+)")),  # anywhere in the line
    # the first "NVIDIA-SMI " then the last "CUDA Version: x" after it; the atomic group stops
    # `.*` from being rescanned from every later "NVIDIA-SMI " (they could only fail too)
    ("driver_cuda", re.compile(r"(?>.*?NVIDIA-SMI ).*CUDA Version: (\S+)")),
)
# Track-3 logs name the GPU and world size on the version line instead of nvidia-smi; matched
# only up to the line's last " with world_size N" (see _world_size).
_WORLD_RE = re.compile(r"Running pytorch .* on (.+?) with world_size (\d+)", re.IGNORECASE)
_WORLD_SIZE_RE = re.compile(r" with world_size \d+", re.IGNORECASE)
# A GPU row of the nvidia-smi table: "|   0  NVIDIA H100 80GB HBM3   On  |   00000000:61:00.0 ...".
# The name ends on a non-space and each whitespace run is possessive: the old `(\S.*?)\s+`
# rescanned a run of spaces from each of its characters (quadratic in a 100 KB row).
_SMI_GPU_RE = re.compile(
    r"\|\s++(\d++)\s++(\S(?:.*?\S)?)\s++(?:On|Off)\s++\|\s++[0-9A-Fa-f]++:[0-9A-Fa-f]{2}:"
)
_SMI_LIST_RE = re.compile(r"GPU (\d+): (.+?) \(UUID")


@dataclass(frozen=True)
class _Text:
    """The log split once into lines. `heads[i]` is line i without its newline, cut to
    MAX_LINE_CHARS."""

    text: str
    heads: list[str]
    chars_before: list[int]  # [i]: characters in lines 0..i-1, newlines left out
    cut: list[int]  # lines longer than MAX_LINE_CHARS
    separators: list[int]  # the `=` rulers

    def offset(self, index: int) -> int:
        """Where line `index` starts in `text` (len(text) + 1 for the line after the last)."""
        return self.chars_before[index] + index

    def chars(self, index: int) -> int:
        return self.chars_before[index + 1] - self.chars_before[index]

    def is_blank(self, first: int, stop: int) -> bool:
        return not self.text[self.offset(first) : self.offset(stop)].strip()


@dataclass(slots=True)
class _Line:
    index: int  # line number - 1
    end: int  # offset in the text where the matched line ends
    point: StepPoint
    is_val: bool
    seconds: bool = False  # train_time was logged in seconds (track 3)
    llmc: bool = False
    complete: bool = True  # ends with the field a finished line ends with


@dataclass
class _Header:
    code: str | None = None
    versions: dict[str, str] = field(default_factory=dict)
    gpu_model: str | None = None
    gpu_count: int | None = None
    code_sha256: str | None = None  # computed once: track 3 shares one header across 20 runs
    is_harness: bool = False

    def is_empty(self) -> bool:
        return self.code is None and not self.versions and self.gpu_model is None


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
    log = _split_lines(text)
    lines, notes = _scan_step_lines(log, source)
    if not lines:
        raise LogParseError(source, _no_steps_reason(log))
    groups = _split_runs(lines)
    if len(groups) > MAX_RUNS:
        raise LogParseError(source, f"{len(groups)} runs in one log, more than {MAX_RUNS}")
    firsts = [(warmup or main)[0].index for warmup, main in groups]
    stops = [*firsts[1:], len(log.heads)]
    noted_at = [index for index, _ in notes]
    runs: list[ParsedRun] = []
    header = _Header()
    preamble = 0
    for k, (warmup, main) in enumerate(groups):
        parsed = _parse_header(log, preamble, firsts[k])
        header = header if parsed.is_empty() else parsed
        peak = _find_peak(log, main[-1].index + 1, stops[k])
        preamble = (peak[0] if peak else main[-1].index) + 1
        name = source if len(groups) == 1 else f"{source}#run{k + 1}"
        lower = bisect_left(noted_at, firsts[k] if k else 0)
        run_notes = [msg for _, msg in notes[lower : bisect_left(noted_at, stops[k])]]
        runs.append(_build_run(name, header, warmup, main, peak, _cap(run_notes)))
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
    step_avg:95.00ms`; `parse_log` (and the speedrun's own tooling) reads it back."""
    if step < 0 or total_steps < 0:
        raise ValueError(f"steps must be >= 0, got {step}/{total_steps}")
    parts = [f"step:{step}/{total_steps}"]
    if val_loss is not None:
        parts.append(f"val_loss:{val_loss:.4f}")
    if train_loss is not None:
        parts.append(f"train_loss:{train_loss:.4f}")
    parts.append(f"train_time:{train_time_ms:.0f}ms")
    parts.append(f"step_avg:{step_avg_ms:.2f}ms")  # nan prints as "nanms", as the speedrun's
    return " ".join(parts)


def _split_lines(text: str) -> _Text:
    heads = text.split("\n")
    chars_before = [0, *accumulate(map(len, heads))]
    cut: list[int] = []
    if max(map(len, heads)) > MAX_LINE_CHARS:
        cut = [i for i, chars in enumerate(map(len, heads)) if chars > MAX_LINE_CHARS]
    for i in cut:
        heads[i] = heads[i][:MAX_LINE_CHARS]
    rulers = _lines_starting(heads, 0, _RULER)
    separators = [i for i in rulers if _SEPARATOR_RE.fullmatch(heads[i])]
    return _Text(text, heads, chars_before, cut, separators)


def _lines_starting(heads: list[str], first: int, prefix: str | tuple[str, ...]) -> list[int]:
    """Indices from `first` on of the lines that start with `prefix` (map/compress: no Python
    code runs per line, most of a log's lines are neither steps nor rulers)."""
    starts = map(str.startswith, islice(heads, first, None), repeat(prefix))
    return list(compress(count(first), starts))


def _check_is_text(text: str, source: str) -> None:
    if not text.strip():
        raise LogParseError(source, "empty log")
    sample = text[:65536]
    if "\x00" in sample or sample.count("\ufffd") > max(8, len(sample) // 50):
        raise LogParseError(source, "binary data (NUL bytes or invalid UTF-8), not a text log")


def _no_steps_reason(log: _Text) -> str:
    if log.separators:
        return "no step lines: the log stops after its header (the run never reached step 0)"
    return "no step lines found (neither 'step:N/M ...' nor llm.c 's:N tel:X' lines)"


def _scan_step_lines(log: _Text, source: str) -> tuple[list[_Line], list[tuple[int, str]]]:
    """All well-formed step lines, plus (line index, message) notes: malformed step lines and
    lines cut to MAX_LINE_CHARS, in line order."""
    lines: list[_Line] = []
    bad: list[tuple[int, str]] = []
    first = _code_end(log)
    heads = log.heads
    for i in _lines_starting(heads, first, _STEP_PREFIXES):
        if not (m := _STEP_RE.match(heads[i])):
            continue
        line = _parse_step_match(m, i, log.offset(i))
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


def _code_end(log: _Text) -> int:
    """The first line after the code a log opens with: step-like lines inside it (a docstring
    quoting a log, say) are not steps. 0 when the log does not open with code."""
    seps = log.separators
    if not seps or _STEP_RE.match(log.heads[0]):
        return 0
    if not log.is_blank(0, seps[0]):  # code, then "=" * 100
        return seps[0] + 1
    return seps[1] + 1 if len(seps) > 1 else 0  # 2024: "=" * 100, code, "=" * 100


def _cap(notes: list[str]) -> tuple[str, ...]:
    if len(notes) <= MAX_WARNINGS:
        return tuple(notes)
    return (*notes[:MAX_WARNINGS], f"... and {len(notes) - MAX_WARNINGS} more warnings")


def _int(digits: str) -> int:
    if len(digits) > _MAX_INT_DIGITS:
        raise ValueError(f"a {len(digits)}-digit number")
    return int(digits)


def _int_or_none(digits: str | None) -> int | None:
    try:
        return None if digits is None else _int(digits)
    except ValueError:
        return None


def _parse_step_match(m: re.Match[str], index: int, offset: int) -> _Line | None:
    if m.group("step") is None and m.group("s") is None:
        return None
    try:
        if m.group("s") is not None:
            return _parse_llmc(m, index, offset)
        fast = _FAST_REST_RE.fullmatch(m.group("rest"))
        return _parse_fast(m, fast, index, offset) if fast else _parse_fields(m, index, offset)
    except ValueError:
        return None


def _parse_llmc(m: re.Match[str], index: int, offset: int) -> _Line | None:
    """llm.c: "s:N tel:X" (val loss) or "s:N trl:X lr:.. norm:.." (train loss)."""
    rest = m.group("rest").split(None, 1)
    if not rest:
        return None
    loss = _nan_to_none(float(rest[0]))
    step = _int(m.group("s"))
    end = offset + m.end()
    if m.group("kind") == "tel":
        return _Line(index, end, StepPoint(step, None, val_loss=loss), True, llmc=True)
    return _Line(index, end, StepPoint(step, None, train_loss=loss), False, llmc=True)


def _parse_fast(m: re.Match[str], fast: re.Match[str], index: int, offset: int) -> _Line:
    val, train, time, unit, avg = fast.group("val", "train", "time", "unit", "avg")
    time_ms = _nan_to_none(float(time))
    seconds = unit == "s"
    if seconds and time_ms is not None:
        time_ms = round(time_ms * 1000, 6)
    point = StepPoint(
        _int(m.group("step")),
        _int(m.group("total")),
        _nan_to_none(float(val)) if val is not None else None,
        _nan_to_none(float(train)) if train is not None else None,
        time_ms,
        _nan_to_none(float(avg)),
    )
    return _Line(index, offset + m.end(), point, val is not None, seconds)


def _parse_fields(m: re.Match[str], index: int, offset: int) -> _Line:
    """Any other order or set of `key:value` fields; unknown keys are ignored."""
    values: dict[str, float | None] = {}
    seconds = False
    for token in m.group("rest").split():
        key, sep, value = token.partition(":")
        if not sep:
            raise ValueError(token)
        if key == "train_time":
            seconds = value.endswith("s") and not value.endswith("ms")
            number = _nan_to_none(float(value.removesuffix("ms").removesuffix("s")))
            values["train_time_ms"] = round(number * 1000, 6) if seconds and number else number
        elif key in ("val_loss", "train_loss"):
            values[key] = _nan_to_none(float(value))
        elif key == "step_avg":
            values["step_avg_ms"] = _nan_to_none(float(value.removesuffix("ms")))
    rest = m.group("rest").rstrip()
    point = StepPoint(_int(m.group("step")), _int(m.group("total")), **values)
    complete = "step_avg:" in rest and rest.endswith("ms")
    end = offset + m.end()
    return _Line(index, end, point, "val_loss" in values, seconds, complete=complete)


def _nan_to_none(number: float) -> float | None:
    return None if math.isnan(number) else number


def _split_runs(lines: list[_Line]) -> list[tuple[list[_Line], list[_Line]]]:
    """Group step lines into (warmup, main) per run: a run starts at a step-0 val line, and
    its steps never decrease; leftovers before the next start are that run's warmup."""
    starts = [i for i, ln in enumerate(lines) if ln.point.step == 0 and ln.is_val] or [0]
    runs: list[tuple[list[_Line], list[_Line]]] = []
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


def _monotone_prefix(lines: list[_Line]) -> tuple[list[_Line], list[_Line]]:
    for i in range(1, len(lines)):
        if lines[i].point.step < lines[i - 1].point.step:
            return lines[:i], lines[i:]
    return lines, []


def _split_on_decrease(lines: list[_Line]) -> list[list[_Line]]:
    """The monotone runs of `lines`, cut in one pass (cutting prefix after prefix copied the
    rest each time: quadratic in a log of steps that keep decreasing)."""
    cuts = [i for i in range(1, len(lines)) if lines[i].point.step < lines[i - 1].point.step]
    return [lines[a:b] for a, b in pairwise([0, *cuts, len(lines)]) if a < b]


def _is_complete(lines: list[_Line]) -> bool:
    return any(ln.is_val and ln.point.step == ln.point.total_steps for ln in lines)


def _find_peak(log: _Text, first: int, stop: int) -> tuple[int, re.Match[str]] | None:
    for i in range(first, min(stop, first + MAX_PEAK_LINES)):
        if m := _PEAK_RE.match(log.heads[i]):
            return i, m
    return None


def _parse_header(log: _Text, first: int, stop: int) -> _Header:
    """Code, versions and GPUs from lines first..stop-1, the text before a run's first step."""
    if first >= stop:  # runs that follow each other (track 3)
        return _Header()
    seps = log.separators[bisect_left(log.separators, first) : bisect_left(log.separators, stop)]
    code: str | None = None
    header_start = first
    if seps and log.is_blank(first, seps[0]):  # 2024: "====", code, "====", header
        if len(seps) >= 2:
            code = log.text[log.offset(seps[0] + 1) : log.offset(seps[1])]
            header_start = seps[1] + 1
    elif seps:  # the code was printed first, then "="*100 (print adds one newline)
        head = log.text[log.offset(first) : log.offset(seps[0])]
        if not head.lstrip().startswith(("Running ", "nvidia-smi")):
            code = head[:-1] if head.endswith("\n") else head
            header_start = seps[0] + 1
    header = _Header(code=code if code and code.strip() else None)
    if header.code is not None:
        data = header.code.encode("utf-8", errors="surrogatepass")
        header.code_sha256 = hashlib.sha256(data).hexdigest()
        header.is_harness = _imports_harness(header.code)
    heads = log.heads[header_start : min(stop, header_start + MAX_HEADER_LINES)]
    header.versions = _find_versions(heads)
    _parse_gpus(heads, header)
    return header


def _imports_harness(code: str) -> bool:
    """`is_harness_variant`, asked about the code without its whitespace-only lines: its
    `^\\s*` runs across blank lines from every line start (quadratic in a run of them), and
    dropping them changes no match (every `\\s*`/`\\s+` still spans whitespace)."""
    return is_harness_variant("\n".join(line for line in code.split("\n") if line.strip()))


def _find_versions(heads: list[str]) -> dict[str, str]:
    found: dict[str, str] = {}
    for head in heads:
        for name, rx in _VERSION_RES:
            if name not in found and (m := rx.match(head)):
                found[name] = m.group(1)
        if len(found) == len(_VERSION_RES):
            break
    return {name: found[name] for name, _ in _VERSION_RES if name in found}


def _world_size(head: str) -> tuple[str, int] | None:
    """(GPU, world size) from track 3's "Running pytorch ... on <GPU> with world_size N".
    `.* on (.+?) with world_size` rescans the line lazily from every " on ", quadratic when
    none is followed by a world size; matched only up to the end of the line's last
    " with world_size N", it finds the same match, after at most two failed scans."""
    ends = [m.end() for m in _WORLD_SIZE_RE.finditer(head)]
    m = _WORLD_RE.match(head, 0, ends[-1]) if ends else None
    size = _int_or_none(m.group(2)) if m else None
    return (m.group(1), size) if m and size is not None else None


def _parse_gpus(heads: list[str], header: _Header) -> None:
    world = next(filter(None, map(_world_size, heads)), None)
    if world:
        header.gpu_model, header.gpu_count = world
        return
    gpus = _gpu_rows(_SMI_GPU_RE, heads) or _gpu_rows(_SMI_LIST_RE, heads)
    if gpus:
        header.gpu_model = Counter(gpus.values()).most_common(1)[0][0]
        header.gpu_count = len(gpus)


def _gpu_rows(rx: re.Pattern[str], heads: list[str]) -> dict[int, str]:
    rows = {_int_or_none(m.group(1)): m.group(2) for m in map(rx.match, heads) if m}
    return {index: name for index, name in rows.items() if index is not None}


def _detect_format(main: list[_Line], header: _Header) -> str:
    if main[0].llmc:
        return "llmc"
    if any(ln.seconds for ln in main):
        return "track3"
    if _has_grace_period(main):
        return "2024"
    return "harness" if header.is_harness else "2025"


def _has_grace_period(main: list[_Line]) -> bool:
    """The 2024 rule left steps 1-10 untimed: step_avg is nan there and the clock restarts."""
    early = [ln.point for ln in main if 1 <= ln.point.step <= 12 and not ln.is_val]
    if any(p.step_avg_ms is None and p.train_time_ms is not None for p in early):
        return True
    times = [p.train_time_ms for p in early if p.train_time_ms is not None]
    return any(later < earlier for earlier, later in pairwise(times))


def _build_run(
    source: str,
    header: _Header,
    warmup: list[_Line],
    main: list[_Line],
    peak: tuple[int, re.Match[str]] | None,
    warnings: tuple[str, ...],
) -> ParsedRun:
    val_points = tuple(ln.point for ln in main if ln.is_val)
    timed = [ln.point.train_time_ms for ln in main if ln.point.train_time_ms is not None]
    return ParsedRun(
        source=source,
        format=_detect_format(main, header),
        code=header.code,
        code_sha256=header.code_sha256,
        versions=dict(header.versions),
        gpu_model=header.gpu_model,
        gpu_count=header.gpu_count,
        val_points=val_points,
        train_points=tuple(ln.point for ln in main if not ln.is_val),
        warmup_points=tuple(ln.point for ln in warmup),
        final_val_loss=val_points[-1].val_loss if val_points else None,
        final_train_time_ms=timed[-1] if timed else None,
        peak_memory_allocated_mib=_int_or_none(peak[1].group(1)) if peak else None,
        peak_memory_reserved_mib=_int_or_none(peak[1].group(2)) if peak else None,
        warnings=warnings,
    )
