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
"""

from __future__ import annotations

import hashlib
import math
import os
import re
from collections import Counter
from dataclasses import dataclass, field
from itertools import pairwise

from speedrun.errors import LogParseError
from speedrun.harness import is_harness_variant

__all__ = [
    "FORMATS",
    "ParsedRun",
    "StepPoint",
    "format_step_line",
    "parse_log",
    "parse_log_file",
]

FORMATS = ("llmc", "2024", "2025", "track3", "harness")


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
    warnings: tuple[str, ...] = ()  # malformed step lines that were skipped

    @property
    def total_steps(self) -> int | None:
        return self.val_points[-1].total_steps if self.val_points else None

    @property
    def completed(self) -> bool:
        """True when the last validation happened at the last step (the run finished)."""
        last = self.val_points[-1] if self.val_points else None
        return last is not None and last.total_steps is not None and last.step == last.total_steps


# One pass over the text finds every step line, modern (`step:N/M ...`) or llm.c (`s:N tel:X`);
# a `step:` line without N/M is kept as malformed.
_STEP_RE = re.compile(
    r"^(?:step:(?:(?P<step>\d+)/(?P<total>\d+))?|s:(?P<s>\d+)[ \t]+(?P<kind>tel|trl):)"
    r"(?P<rest>[^\r\n]*)",
    re.MULTILINE,
)
# The fields of a modern line in their usual order: parsed in one match (the common case).
_FAST_REST_RE = re.compile(
    r" (?:val_loss:(?P<val>\S+) )?(?:train_loss:(?P<train>\S+) )?"
    r"train_time:(?P<time>[0-9.]+|nan)(?P<unit>ms|s) step_avg:(?P<avg>[0-9.]+|nan)ms[ \t]*"
)
_SEPARATOR_RE = re.compile(r"^={40,}[ \t]*\r?$", re.MULTILINE)
_PEAK_RE = re.compile(
    r"^peak memory (?:allocated|consumption): (\d+) MiB(?:[ \t]+reserved: (\d+) MiB)?",
    re.MULTILINE,
)
_VERSION_RES = (
    ("python", re.compile(r"^Running Python (\S+)", re.MULTILINE)),
    ("torch", re.compile(r"^Running pytorch (\S+)", re.MULTILINE | re.IGNORECASE)),
    ("cuda", re.compile(r"^Running pytorch \S+ compiled for CUDA (\d\S*)", re.M | re.I)),
    ("triton", re.compile(r"^Running Triton version (\S+)", re.MULTILINE)),
    ("driver", re.compile(r"Driver Version: (\S+)")),
    ("driver_cuda", re.compile(r"NVIDIA-SMI .*CUDA Version: (\S+)")),
)
# Track-3 logs name the GPU and world size on the version line instead of nvidia-smi.
_WORLD_RE = re.compile(r"^Running pytorch .* on (.+?) with world_size (\d+)", re.M | re.I)
# A GPU row of the nvidia-smi table: "|   0  NVIDIA H100 80GB HBM3   On  |   00000000:61:00.0 ..."
_SMI_GPU_RE = re.compile(
    r"^\|\s+(\d+)\s+(\S.*?)\s+(?:On|Off)\s+\|\s+[0-9A-Fa-f]+:[0-9A-Fa-f]{2}:", re.MULTILINE
)
_SMI_LIST_RE = re.compile(r"^GPU (\d+): (.+?) \(UUID", re.MULTILINE)


@dataclass(slots=True)
class _Line:
    start: int
    end: int
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
    lines, or a last step line cut off mid-line.
    """
    _check_is_text(text, source)
    lines, bad = _scan_step_lines(text, source)
    if not lines:
        raise LogParseError(source, _no_steps_reason(text))
    groups = _split_runs(lines)
    runs: list[ParsedRun] = []
    header = _Header()
    preamble_start = 0
    for index, (warmup, main) in enumerate(groups):
        first = warmup[0] if warmup else main[0]
        next_start = _group_start(groups[index + 1]) if index + 1 < len(groups) else len(text)
        parsed = _parse_header(text[preamble_start : first.start])
        header = header if parsed.is_empty() else parsed
        peak = _PEAK_RE.search(text, main[-1].end, next_start)
        preamble_start = _next_line(text, peak.end() if peak else main[-1].end)
        name = source if len(groups) == 1 else f"{source}#run{index + 1}"
        lower = first.start if index else 0
        notes = tuple(msg for pos, msg in bad if lower <= pos < next_start)
        runs.append(_build_run(name, header, warmup, main, peak, notes))
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


def _next_line(text: str, offset: int) -> int:
    newline = text.find("\n", offset)
    return len(text) if newline < 0 else newline + 1


def _check_is_text(text: str, source: str) -> None:
    if not text.strip():
        raise LogParseError(source, "empty log")
    sample = text[:65536]
    if "\x00" in sample or sample.count("\ufffd") > max(8, len(sample) // 50):
        raise LogParseError(source, "binary data (NUL bytes or invalid UTF-8), not a text log")


def _no_steps_reason(text: str) -> str:
    if _SEPARATOR_RE.search(text):
        return "no step lines: the log stops after its header (the run never reached step 0)"
    return "no step lines found (neither 'step:N/M ...' nor llm.c 's:N tel:X' lines)"


def _scan_step_lines(text: str, source: str) -> tuple[list[_Line], list[tuple[int, str]]]:
    """All well-formed step lines, plus (offset, message) for malformed ones."""
    lines: list[_Line] = []
    bad: list[tuple[int, str]] = []
    for m in _STEP_RE.finditer(text, _code_end(text)):
        line = _parse_step_match(m)
        if line is None:
            bad.append((m.start(), f"skipped malformed step line: {m.group(0)[:80]!r}"))
        else:
            lines.append(line)
    last_is_partial = not text.endswith("\n") and bool(bad) and bad[-1][0] > text.rfind("\n")
    if last_is_partial or (lines and not lines[-1].complete and lines[-1].end == len(text)):
        lineno = text.count("\n") + 1
        tail = text[text.rfind("\n") + 1 :][:80]
        raise LogParseError(source, f"truncated mid-line at line {lineno}: {tail!r}")
    return lines, bad


def _code_end(text: str) -> int:
    """Where the code a log opens with ends: step-like lines inside it (a docstring quoting a
    log, say) are not steps. 0 when the log does not open with code."""
    first = _SEPARATOR_RE.search(text)
    if first is None or _STEP_RE.match(text):
        return 0
    if text[: first.start()].strip():  # code, then "=" * 100
        return first.end()
    closing = _SEPARATOR_RE.search(text, first.end())  # 2024: "=" * 100, code, "=" * 100
    return closing.end() if closing else 0


def _parse_step_match(m: re.Match[str]) -> _Line | None:
    if m.group("step") is None and m.group("s") is None:
        return None
    try:
        if m.group("s") is not None:
            return _parse_llmc(m)
        fast = _FAST_REST_RE.fullmatch(m.group("rest"))
        return _parse_fast(m, fast) if fast else _parse_fields(m)
    except ValueError:
        return None


def _parse_llmc(m: re.Match[str]) -> _Line | None:
    """llm.c: "s:N tel:X" (val loss) or "s:N trl:X lr:.. norm:.." (train loss)."""
    rest = m.group("rest").split(None, 1)
    if not rest:
        return None
    loss = _nan_to_none(float(rest[0]))
    step = int(m.group("s"))
    if m.group("kind") == "tel":
        return _Line(m.start(), m.end(), StepPoint(step, None, val_loss=loss), True, llmc=True)
    return _Line(m.start(), m.end(), StepPoint(step, None, train_loss=loss), False, llmc=True)


def _parse_fast(m: re.Match[str], fast: re.Match[str]) -> _Line:
    val, train, time, unit, avg = fast.group("val", "train", "time", "unit", "avg")
    time_ms = _nan_to_none(float(time))
    seconds = unit == "s"
    if seconds and time_ms is not None:
        time_ms = round(time_ms * 1000, 6)
    point = StepPoint(
        int(m.group("step")),
        int(m.group("total")),
        _nan_to_none(float(val)) if val is not None else None,
        _nan_to_none(float(train)) if train is not None else None,
        time_ms,
        _nan_to_none(float(avg)),
    )
    return _Line(m.start(), m.end(), point, val is not None, seconds)


def _parse_fields(m: re.Match[str]) -> _Line:
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
    point = StepPoint(int(m.group("step")), int(m.group("total")), **values)
    complete = "step_avg:" in rest and rest.endswith("ms")
    return _Line(m.start(), m.end(), point, "val_loss" in values, seconds, complete=complete)


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
    chunks: list[list[_Line]] = []
    while lines:
        chunk, lines = _monotone_prefix(lines)
        chunks.append(chunk)
    return chunks


def _is_complete(lines: list[_Line]) -> bool:
    return any(ln.is_val and ln.point.step == ln.point.total_steps for ln in lines)


def _group_start(group: tuple[list[_Line], list[_Line]]) -> int:
    warmup, main = group
    return (warmup[0] if warmup else main[0]).start


def _parse_header(preamble: str) -> _Header:
    """Code, versions and GPUs from the text that precedes a run's first step line."""
    seps = list(_SEPARATOR_RE.finditer(preamble))
    code: str | None = None
    header_text = preamble
    if seps and not preamble[: seps[0].start()].strip():  # 2024: "====", code, "====", header
        if len(seps) >= 2:
            code = preamble[seps[0].end() + 1 : seps[1].start()]
            header_text = preamble[seps[1].end() :]
    elif seps:  # the code was printed first, then "="*100 (print adds one newline)
        head = preamble[: seps[0].start()]
        if not head.lstrip().startswith(("Running ", "nvidia-smi")):
            code = head[:-1] if head.endswith("\n") else head
            header_text = preamble[seps[0].end() :]
    header = _Header(code=code if code and code.strip() else None)
    header.versions = {
        name: m.group(1) for name, rx in _VERSION_RES if (m := rx.search(header_text))
    }
    _parse_gpus(header_text, header)
    return header


def _parse_gpus(text: str, header: _Header) -> None:
    world = _WORLD_RE.search(text)
    if world:
        header.gpu_model, header.gpu_count = world.group(1), int(world.group(2))
        return
    gpus = {int(m.group(1)): m.group(2) for m in _SMI_GPU_RE.finditer(text)}
    gpus = gpus or {int(m.group(1)): m.group(2) for m in _SMI_LIST_RE.finditer(text)}
    if gpus:
        header.gpu_model = Counter(gpus.values()).most_common(1)[0][0]
        header.gpu_count = len(gpus)


def _detect_format(main: list[_Line], code: str | None) -> str:
    if main[0].llmc:
        return "llmc"
    if any(ln.seconds for ln in main):
        return "track3"
    if _has_grace_period(main):
        return "2024"
    return "harness" if code is not None and is_harness_variant(code) else "2025"


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
    peak: re.Match[str] | None,
    warnings: tuple[str, ...],
) -> ParsedRun:
    val_points = tuple(ln.point for ln in main if ln.is_val)
    timed = [ln.point.train_time_ms for ln in main if ln.point.train_time_ms is not None]
    code = header.code
    return ParsedRun(
        source=source,
        format=_detect_format(main, code),
        code=code,
        code_sha256=hashlib.sha256(code.encode()).hexdigest() if code is not None else None,
        versions=dict(header.versions),
        gpu_model=header.gpu_model,
        gpu_count=header.gpu_count,
        val_points=val_points,
        train_points=tuple(ln.point for ln in main if not ln.is_val),
        warmup_points=tuple(ln.point for ln in warmup),
        final_val_loss=val_points[-1].val_loss if val_points else None,
        final_train_time_ms=timed[-1] if timed else None,
        peak_memory_allocated_mib=int(peak.group(1)) if peak else None,
        peak_memory_reserved_mib=int(peak.group(2)) if peak and peak.group(2) else None,
        warnings=warnings,
    )
