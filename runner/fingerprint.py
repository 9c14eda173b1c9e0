"""The hardware fingerprint of the host, read from `nvidia-smi` (GPUs) or /proc (CPU).

GPU fields per device: name, UUID, driver, maximum SM and memory clocks, power limit and
memory; on CPU tracks, the CPU model, core count and memory. Software versions come from
runner.probe, run where the variant runs (inside the image).
"""

from __future__ import annotations

import contextlib
import os
import platform
import shutil
import socket
import subprocess
from pathlib import Path
from typing import Any

SMI_FIELDS = (
    "index",
    "name",
    "uuid",
    "driver_version",
    "clocks.max.sm",
    "clocks.max.memory",
    "clocks.sm",
    "power.limit",
    "memory.total",
    "pci.bus_id",
)


def host_hardware(accelerator: str) -> dict[str, Any]:
    info: dict[str, Any] = {"host": socket.gethostname(), "machine": platform.machine()}
    info.update(cpu_info())
    if accelerator == "cuda":
        gpus = nvidia_smi_gpus()
        info["gpus"] = gpus
        info["gpu_count"] = len(gpus)
        info["gpu_model"] = gpus[0]["name"] if gpus else None
        info["driver_version"] = gpus[0]["driver_version"] if gpus else None
        info["nvidia_smi"] = nvidia_smi_table()
    return info


def cpuinfo_field(key: str) -> str | None:
    """The first value of `key` in /proc/cpuinfo ("model name", "flags", ...); None when
    there is no such file or field (not Linux)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            name, sep, value = line.partition(":")
            if sep and name.strip() == key:
                return value.strip()
    except OSError:
        pass
    return None


def cpu_info() -> dict[str, Any]:
    model = cpuinfo_field("model name")
    memory = None
    with contextlib.suppress(ValueError, OSError):
        memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    return {
        "cpu_model": model or platform.processor() or None,
        "cpu_count": os.cpu_count(),
        "memory_total_bytes": memory,
    }


def nvidia_smi_gpus() -> list[dict[str, Any]]:
    """One dict per GPU; empty when nvidia-smi is missing or fails."""
    if shutil.which("nvidia-smi") is None:
        return []
    query = ["nvidia-smi", f"--query-gpu={','.join(SMI_FIELDS)}", "--format=csv,noheader,nounits"]
    try:
        out = subprocess.run(query, capture_output=True, text=True, timeout=30, check=True).stdout
    except (OSError, subprocess.SubprocessError):
        return []
    gpus = []
    for line in out.strip().splitlines():
        values = [v.strip() for v in line.split(",")]
        if len(values) == len(SMI_FIELDS):
            gpus.append({_key(k): _number(v) for k, v in zip(SMI_FIELDS, values, strict=True)})
    return gpus


def nvidia_smi_table() -> str | None:
    """The plain `nvidia-smi` table, as modded-nanogpt logs it."""
    if shutil.which("nvidia-smi") is None:
        return None
    try:
        return subprocess.run(
            ["nvidia-smi"], capture_output=True, text=True, timeout=30, check=True
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return None


def _key(field: str) -> str:
    names = {
        "clocks.max.sm": "clocks_max_sm_mhz",
        "clocks.max.memory": "clocks_max_memory_mhz",
        "clocks.sm": "clocks_sm_mhz",
        "power.limit": "power_limit_w",
        "memory.total": "memory_total_mib",
        "pci.bus_id": "pci_bus_id",
    }
    return names.get(field, field)


def _number(value: str) -> Any:
    try:
        return int(value)
    except ValueError:
        try:
            return float(value)
        except ValueError:
            return value
