"""The runner's telemetry sampler: samples read from a host root (fixture files that change
between samples, the way the kernel's do), the member bounded by downsampling while the summary
counts every sample, the cgroup of an attached process, the thread's start and stop; on a CPU
host a GPU track's sampler says why it has no GPU readings."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest

from runner.telemetry import MEMBER, TelemetrySampler


def write(root: Path, rel: str, text: str) -> None:
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


class Host:
    """A fake host root whose counters advance: `tick(busy, steal, nr_throttled)`."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.busy = self.idle = self.steal = 0
        self.nr = self.usec = 0
        write(root, "proc/loadavg", "3.00 2.00 1.00 7/300 99\n")
        write(root, "proc/cpuinfo", "cpu MHz\t: 2000.0\n")
        write(root, "proc/4242/cgroup", "1:cpu:/pod\n")
        self._write()

    def _write(self) -> None:
        line = f"cpu  {self.busy} 0 0 {self.idle} 0 0 0 {self.steal} 0 0\n"
        write(self.root, "proc/stat", line + "cpu0 0\ncpu1 0\ncpu2 0\ncpu3 0\n")
        stat = f"nr_periods 1\nnr_throttled {self.nr}\nthrottled_time {self.usec * 1000}\n"
        write(self.root, "sys/fs/cgroup/cpu/pod/cpu.stat", stat)

    def tick(self, busy: int, steal: int, throttled: int = 0) -> None:
        self.busy += busy
        self.steal += steal
        self.idle += 100 - busy - steal
        self.nr += throttled
        self.usec += 50_000 * throttled
        self._write()


def test_samples_and_summary_from_the_host(tmp_path: Path) -> None:
    host = Host(tmp_path)
    sampler = TelemetrySampler(root=tmp_path)
    sampler.attach(4242)
    for busy, steal, throttled in ((80, 10, 0), (60, 30, 2), (90, 0, 0), (50, 50, 1)):
        host.tick(busy, steal, throttled)
        sampler.sample_once()
    log = sampler.stop()
    lines = [json.loads(x) for x in log.member.decode().splitlines()]
    assert len(lines) == 4 and lines[1]["steal"] == 0.3 and lines[1]["nr_throttled"] == 2
    s = log.summary
    assert s["member"] == MEMBER and s["samples"] == 4 and s["kept_every"] == 1
    cpu = s["cpu"]
    assert cpu["cpus"] == 4 and cpu["mean_load1"] == 3.0 and cpu["mean_running"] == 7
    assert cpu["mean_steal_share"] == 0.225 and cpu["mean_busy_share"] == 0.7
    assert cpu["min_freq_mhz"] == 2000.0
    # 3 readings after the first; the counter grew in 2 of them
    assert cpu["throttled_share"] == round(2 / 3, 4) and cpu["throttled_usec"] == 150_000
    assert s["gpu"] is None and s["conditions"] == []


def test_the_member_is_bounded_and_the_summary_counts_every_sample(tmp_path: Path) -> None:
    host = Host(tmp_path)
    sampler = TelemetrySampler(root=tmp_path, max_samples=8)
    for i in range(100):
        host.tick(busy=90 if i < 50 else 10, steal=0)
        sampler.sample_once()
    log = sampler.stop()
    kept = [json.loads(x) for x in log.member.decode().splitlines()]
    assert 4 <= len(kept) <= 8 and log.summary["samples"] == 100
    stride = log.summary["kept_every"]
    assert stride == 16 and [round(r["busy"], 2) for r in kept][:4] == [0.9] * 4
    # every sample counts in the mean, not only those kept
    assert log.summary["cpu"]["mean_busy_share"] == 0.5


def test_a_host_without_proc_gives_an_empty_summary(tmp_path: Path) -> None:
    sampler = TelemetrySampler(root=tmp_path / "none")
    sampler.attach(1)
    sampler.sample_once()
    log = sampler.stop()
    assert log.summary["samples"] == 1 and log.summary["cpu"] is None
    assert log.summary["cgroup"] is None


def test_the_thread_samples_about_once_per_interval() -> None:
    sampler = TelemetrySampler(interval_s=0.05).start()
    sampler.attach(os.getpid())  # this process's own cgroup, read from the real host
    time.sleep(0.5)
    log = sampler.stop()
    assert 5 <= log.summary["samples"] <= 12
    assert log.summary["cpu"]["cpus"] >= 1 and log.summary["cpu"]["mean_running"] >= 1
    assert sampler.stop().summary["samples"] == log.summary["samples"]  # stopped means stopped


def test_a_gpu_track_on_a_cpu_host_says_why_there_are_no_gpu_readings() -> None:
    sampler = TelemetrySampler.for_accelerator("cuda", 8)
    if sampler.gpus is not None:
        sampler.stop()
        pytest.skip("this machine has an NVIDIA GPU")
    log = sampler.stop()
    note = log.summary["gpu_note"]
    assert log.summary["gpu"] is None and ("NVIDIA" in note or "nvidia-ml-py" in note)
    assert TelemetrySampler.for_accelerator("cpu", 2).gpu_note is None
