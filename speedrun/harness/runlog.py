"""The lines of a variant's log, in modded-nanogpt's format, which `speedrun.logparse` reads
back: the header (the exact code, a ruler, versions and hardware, a ruler), step lines, and
the final peak-memory line."""

from __future__ import annotations

import os
import platform
import subprocess
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import torch

RULER = "=" * 100


def step_line(
    step: int,
    total_steps: int,
    *,
    val_loss: float | None = None,
    train_loss: float | None = None,
    train_time_ms: float,
    step_avg_ms: float | None = None,
) -> str:
    """The canonical step line, e.g. `step:10/100 val_loss:4.1234 train_time:950ms
    step_avg:95.00ms`; step_avg_ms defaults to train_time_ms / max(step, 1). The one writer of
    the format: `speedrun.logparse.format_step_line` calls it."""
    if step < 0 or total_steps < 0:
        raise ValueError(f"steps must be >= 0, got {step}/{total_steps}")
    if step_avg_ms is None:
        step_avg_ms = train_time_ms / max(step, 1)
    parts = [f"step:{step}/{total_steps}"]
    if val_loss is not None:
        parts.append(f"val_loss:{val_loss:.4f}")
    if train_loss is not None:
        parts.append(f"train_loss:{train_loss:.4f}")
    parts.append(f"train_time:{train_time_ms:.0f}ms")
    parts.append(f"step_avg:{step_avg_ms:.2f}ms")  # nan prints as "nanms", as the speedrun's
    return " ".join(parts)


def header_lines(code: str, device: torch.device) -> list[str]:
    """The log's opening: the code, a ruler, Python and torch versions, `nvidia-smi` on CUDA
    (CPU model, cores and threads on CPU), a ruler."""
    import torch

    lines = [code, RULER, f"Running Python {platform.python_version()}"]
    lines.append(f"Running pytorch {torch.__version__} compiled for CUDA {torch.version.cuda}")
    if device.type == "cuda":
        smi = subprocess.run(["nvidia-smi"], capture_output=True, text=True, check=False)
        lines.append("nvidia-smi:\n" + (smi.stdout or torch.cuda.get_device_name(device)))
    else:
        threads = torch.get_num_threads()
        lines.append(f"CPU: {cpu_model()}, {os.cpu_count()} cores, {threads} threads/process")
    return [*lines, RULER]


def cpu_model() -> str:
    with open("/proc/cpuinfo", encoding="utf-8") as f:
        names = [ln.split(":", 1)[1].strip() for ln in f if ln.startswith("model name")]
    return names[0] if names else platform.processor()


def peak_memory_line(device: torch.device) -> str:
    """CUDA: the allocator's peaks. CPU: the process's peak resident set, for both fields."""
    import resource  # Unix only, like the runner

    import torch

    if device.type == "cuda":
        alloc = torch.cuda.max_memory_allocated(device) // 2**20
        reserved = torch.cuda.max_memory_reserved(device) // 2**20
        return f"peak memory allocated: {alloc} MiB reserved: {reserved} MiB"
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024  # KiB on Linux
    return f"peak memory allocated: {rss} MiB reserved: {rss} MiB"
