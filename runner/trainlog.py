"""The attempt's log in the modded-nanogpt line format, and the figures a log self-reports.

The log opens the way a speedrun log does: the exact code, a ruler, the software versions
and the `nvidia-smi` table (or the CPU), another ruler; then the process's output as it was
streamed. So `speedrun.logparse` (and the speedrun's own tooling) reads it back.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from speedrun.errors import LogParseError
from speedrun.logparse import parse_log

RULER = "=" * 100


def compose_log(
    source: str, software: dict[str, Any], hardware: dict[str, Any], output: str
) -> str:
    lines = [source.rstrip("\n"), RULER]
    lines.append(f"Running Python {software.get('python')}")
    lines.append(
        f"Running pytorch {software.get('torch')} compiled for CUDA {software.get('cuda')}"
    )
    if hardware.get("nvidia_smi"):
        lines.append(str(hardware["nvidia_smi"]).rstrip("\n"))
    else:
        lines.append(
            f"CPU: {hardware.get('cpu_model')}, {hardware.get('cpu_count')} cores "
            f"(no GPU on this track)"
        )
    lines.append(RULER)
    body = output if output.endswith("\n") or not output else output + "\n"
    return "\n".join(lines) + "\n" + body


@dataclass(frozen=True)
class SelfReport:
    val_loss: float | None
    train_time_ms: float | None
    steps: int | None
    parse_error: str | None = None


def self_report(text: str, *, source: str) -> SelfReport:
    """The last run's final val loss and train time as the log states them."""
    try:
        runs = parse_log(text, source=source)
    except LogParseError as exc:
        return SelfReport(None, None, None, parse_error=exc.reason)
    run = runs[-1]
    last = run.val_points[-1] if run.val_points else None
    return SelfReport(
        val_loss=run.final_val_loss,
        train_time_ms=run.final_train_time_ms,
        steps=last.step if last is not None else None,
    )
