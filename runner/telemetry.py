"""Telemetry during training, sampled by the runner (a thread of the runner's own process,
outside any sandbox: the variant can neither write nor see it) about once a second.

Each sample is one line of the bundle member `telemetry.jsonl`: the host's 1-minute load and
runnable tasks, the shares of CPU time busy, stolen (by the hypervisor) and waiting on I/O
since the previous sample, the slowest CPU clock, the attempt's cgroup throttling counters
(runner.cpustat), and on GPU tracks each GPU's clocks, power, temperature and throttle
reasons (runner.nvml). The member is bounded: past MAX_SAMPLES lines the sampler keeps every
2nd, then 4th... sample, while the summary (the manifest's `telemetry` block) is computed over
every sample taken.
"""

from __future__ import annotations

import contextlib
import json
import os
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from runner import cpustat
from runner.nvml import NvmlSampler, NvmlUnavailable
from runner.telemetry_summary import CpuTotals, GpuTotals

MEMBER = "telemetry.jsonl"
INTERVAL_S = 1.0
MAX_SAMPLES = 1800  # 30 minutes at full rate; an 8-hour run keeps every 16th sample


@dataclass(frozen=True)
class TelemetryLog:
    member: bytes  # telemetry.jsonl
    summary: dict[str, Any]  # the manifest's `telemetry` block, conditions not yet judged


class TelemetrySampler:
    """`start()`, `attach(pid)` once the process exists (for its cgroup), `stop()`."""

    def __init__(
        self,
        *,
        root: Path = Path("/"),
        interval_s: float = INTERVAL_S,
        max_samples: int = MAX_SAMPLES,
        gpus: NvmlSampler | None = None,
        gpu_note: str | None = None,
    ) -> None:
        self.root, self.interval_s, self.max_samples = root, interval_s, max_samples
        self.gpus, self.gpu_note = gpus, gpu_note
        self.cgroup_stat: Path | None = None
        self.kept: list[dict[str, Any]] = []
        self.stride, self.taken = 1, 0
        self.cpu, self.gpu = CpuTotals(), GpuTotals()
        self._t0 = time.monotonic()
        self._times = cpustat.read_cpu_times(root)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @classmethod
    def for_accelerator(cls, accelerator: str, gpu_count: int) -> TelemetrySampler:
        """A sampler of this host; on CUDA tracks with NVML when it answers."""
        if accelerator != "cuda":
            return cls()
        try:
            return cls(gpus=NvmlSampler.open(gpu_count))
        except NvmlUnavailable as exc:
            return cls(gpu_note=str(exc))

    def attach(self, pid: int) -> None:
        """The process (host pid) whose cgroup's CPU throttling is read from now on."""
        self.cgroup_stat = cpustat.cgroup_cpu_stat(self.root, pid)

    def start(self) -> TelemetrySampler:
        self._thread = threading.Thread(target=self._loop, name="telemetry", daemon=True)
        self._thread.start()
        return self

    def _loop(self) -> None:
        while True:
            # Telemetry never ends an attempt: a failed reading is a gap in the member.
            with contextlib.suppress(Exception):
                self.sample_once()
            if self._stop.wait(self.interval_s):
                return

    def stop(self) -> TelemetryLog:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
        if self.gpus is not None:
            self.gpus.close()
        lines = "".join(json.dumps(row, sort_keys=True) + "\n" for row in self.kept)
        return TelemetryLog(lines.encode("utf-8"), self.summary())

    def sample_once(self) -> dict[str, Any]:
        row = self._read()
        self.cpu.add(row)
        if "gpus" in row:
            self.gpu.add(row["gpus"])
        if self.taken % self.stride == 0:
            self.kept.append(row)
            if len(self.kept) > self.max_samples:
                self.kept, self.stride = self.kept[::2], self.stride * 2
        self.taken += 1
        return row

    def _read(self) -> dict[str, Any]:
        row: dict[str, Any] = {"t_s": round(time.monotonic() - self._t0, 3)}
        load = cpustat.read_loadavg(self.root)
        if load is not None:
            row["load1"], row["running"] = load
        times = cpustat.read_cpu_times(self.root)
        if times is not None and self._times is not None:
            part = cpustat.shares(self._times, times)
            if part is not None:
                row |= {k: round(v, 5) for k, v in vars(part).items()}
        self._times = times or self._times
        row["freq_mhz"] = cpustat.read_min_freq_mhz(self.root)
        stat = self.cgroup_stat
        throttling = cpustat.read_throttling(stat) if stat is not None else None
        if throttling is not None:
            row["nr_throttled"] = throttling.nr_throttled
            row["throttled_usec"] = throttling.throttled_usec
        if self.gpus is not None:
            row["gpus"] = self.gpus.sample()
        return row

    def summary(self) -> dict[str, Any]:
        cpus = cpustat.count_cpus(self.root) or os.cpu_count() or 1
        block: dict[str, Any] = {
            "member": MEMBER,
            "samples": self.taken,
            "interval_s": self.interval_s,
            "kept_every": self.stride,
            "cgroup": str(self.cgroup_stat) if self.cgroup_stat else None,
            "cpu": self.cpu.summary(cpus),
            "gpu": self.gpu.summary(),
            "conditions": [],
        }
        if self.gpu_note:
            block["gpu_note"] = self.gpu_note
        return block
