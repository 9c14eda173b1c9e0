"""What the host's kernel says about its CPUs, read from /proc and /sys for the telemetry
sampler (runner.telemetry): load, time shares (busy, steal, iowait), clock frequency, and the
CPU throttling of one process's cgroup (the attempt's container).

Every reader takes the filesystem `root` ("/" on a real host), so tests point it at fixture
files, and answers None where the host does not expose a figure (no cpufreq in many VMs, no
cgroup cpu controller). Formats: proc(5) for /proc/loadavg, /proc/stat and /proc/<pid>/cgroup;
the kernel's CFS bandwidth documentation for cpu.stat (cgroup v1: `throttled_time` in ns,
v2: `throttled_usec`). Hosts in hybrid mode (v1 controllers beside the v2 tree) keep the
cpu controller in v1, so v1 paths are tried first.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from pathlib import Path

MAX_FILE_BYTES = 1 << 20  # /proc/stat of a 512-CPU host is ~40 KB


@dataclass(frozen=True)
class CpuTimes:
    """The `cpu` line of /proc/stat, in clock ticks since boot."""

    busy: int  # user + nice + system + irq + softirq
    idle: int
    iowait: int
    steal: int  # time the hypervisor gave this VM's CPUs to someone else

    @property
    def total(self) -> int:
        return self.busy + self.idle + self.iowait + self.steal


@dataclass(frozen=True)
class Shares:
    busy: float
    steal: float
    iowait: float


@dataclass(frozen=True)
class Throttling:
    nr_throttled: int  # CFS periods in which the cgroup hit its quota
    throttled_usec: int


def _read(path: Path) -> str | None:
    try:
        with open(path, encoding="ascii", errors="replace") as f:
            return f.read(MAX_FILE_BYTES)
    except OSError:
        return None


def read_loadavg(root: Path) -> tuple[float, int] | None:
    """(1-minute load, runnable tasks now) from /proc/loadavg ("0.52 0.58 0.59 3/467 12345")."""
    text = _read(root / "proc/loadavg")
    fields = text.split() if text else []
    try:
        return float(fields[0]), int(fields[3].split("/")[0])
    except (IndexError, ValueError):
        return None


def read_cpu_times(root: Path) -> CpuTimes | None:
    """The aggregate `cpu` line: user nice system idle iowait irq softirq steal [guest...]."""
    text = _read(root / "proc/stat") or ""
    for line in text.splitlines():
        fields = line.split()
        if fields and fields[0] == "cpu":
            try:
                v = [int(x) for x in fields[1:9]] + [0] * (9 - len(fields))
            except ValueError:
                return None
            user, nice, system, idle, iowait, irq, softirq, steal = v[:8]
            return CpuTimes(user + nice + system + irq + softirq, idle, iowait, steal)
    return None


def count_cpus(root: Path) -> int | None:
    """Online CPUs: the `cpuN` lines of /proc/stat."""
    text = _read(root / "proc/stat") or ""
    n = sum(1 for line in text.splitlines() if line.startswith("cpu") and line[3:4].isdigit())
    return n or None


def shares(before: CpuTimes, after: CpuTimes) -> Shares | None:
    """Shares of the CPU time that passed between two readings; None if none passed."""
    total = after.total - before.total
    if total <= 0:
        return None
    return Shares(
        busy=max(0, after.busy - before.busy) / total,
        steal=max(0, after.steal - before.steal) / total,
        iowait=max(0, after.iowait - before.iowait) / total,
    )


def read_min_freq_mhz(root: Path) -> float | None:
    """The slowest CPU's current clock: cpufreq's scaling_cur_freq (kHz), else the `cpu MHz`
    lines of /proc/cpuinfo (x86 VMs often have no cpufreq)."""
    found = []
    for path in sorted(
        (root / "sys/devices/system/cpu").glob("cpu[0-9]*/cpufreq/scaling_cur_freq")
    ):
        with contextlib.suppress(ValueError, TypeError):
            found.append(int((_read(path) or "").strip()) / 1000)
    if not found:
        for line in (_read(root / "proc/cpuinfo") or "").splitlines():
            name, sep, value = line.partition(":")
            if sep and name.strip() == "cpu MHz":
                with contextlib.suppress(ValueError):
                    found.append(float(value))
    return min(found) if found else None


def cgroup_cpu_stat(root: Path, pid: int) -> Path | None:
    """The cpu.stat file of `pid`'s cgroup that carries throttling counters, or None."""
    text = _read(root / f"proc/{pid}/cgroup") or ""
    v1: list[Path] = []
    v2: list[Path] = []
    base = root / "sys/fs/cgroup"
    for line in text.splitlines():
        parts = line.split(":", 2)
        if len(parts) != 3 or ".." in parts[2].split("/"):
            continue
        _, controllers, path = parts
        rel = path.lstrip("/")
        if "cpu" in controllers.split(","):
            v1 += [base / "cpu" / rel / "cpu.stat", base / "cpu,cpuacct" / rel / "cpu.stat"]
        elif controllers == "":
            v2 += [base / rel / "cpu.stat", base / "unified" / rel / "cpu.stat"]
    for candidate in v1 + v2:
        if read_throttling(candidate) is not None:
            return candidate
    return None


def read_throttling(path: Path) -> Throttling | None:
    """nr_throttled and the throttled time of a cpu.stat file (v1 or v2)."""
    values: dict[str, int] = {}
    for line in (_read(path) or "").splitlines():
        key, _, value = line.partition(" ")
        with contextlib.suppress(ValueError):
            values[key] = int(value)
    if "nr_throttled" not in values:
        return None
    if "throttled_usec" in values:  # v2
        usec = values["throttled_usec"]
    else:  # v1: nanoseconds
        usec = values.get("throttled_time", 0) // 1000
    return Throttling(values["nr_throttled"], usec)
