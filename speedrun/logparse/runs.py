"""A parsed run (`ParsedRun`), built from its step lines, header and peak-memory line, and the
era its log was written in (speedrun.logparse's internals)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from itertools import pairwise

from speedrun.logparse.header import Header
from speedrun.logparse.steps import StepLine, StepPoint
from speedrun.logparse.text import int_or_none


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


def build_run(
    source: str,
    header: Header,
    warmup: list[StepLine],
    main: list[StepLine],
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
        peak_memory_allocated_mib=int_or_none(peak[1].group(1)) if peak else None,
        peak_memory_reserved_mib=int_or_none(peak[1].group(2)) if peak else None,
        warnings=warnings,
    )


def _detect_format(main: list[StepLine], header: Header) -> str:
    if main[0].llmc:
        return "llmc"
    if any(ln.seconds for ln in main):
        return "track3"
    if _has_grace_period(main):
        return "2024"
    return "harness" if header.is_harness else "2025"


def _has_grace_period(main: list[StepLine]) -> bool:
    """The 2024 rule left steps 1-10 untimed: step_avg is nan there and the clock restarts."""
    early = [ln.point for ln in main if 1 <= ln.point.step <= 12 and not ln.is_val]
    if any(p.step_avg_ms is None and p.train_time_ms is not None for p in early):
        return True
    times = [p.train_time_ms for p in early if p.train_time_ms is not None]
    return any(later < earlier for earlier, later in pairwise(times))
