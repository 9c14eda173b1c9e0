"""The host readers of the telemetry sampler: fixture files in proc(5)'s formats under a temp
root (cgroup v1, v2 and hybrid hosts, with and without cpufreq, malformed files), and one real
cgroup with a CPU quota, whose throttling the kernel reports while a busy process runs in it."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from runner import cpustat

STAT = """cpu  1000 50 300 5000 40 0 10 100 0 0
cpu0 500 25 150 2500 20 0 5 50 0 0
cpu1 500 25 150 2500 20 0 5 50 0 0
intr 12345
ctxt 999
"""


def write(root: Path, rel: str, text: str) -> Path:
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


@pytest.fixture
def host(tmp_path: Path) -> Path:
    write(tmp_path, "proc/loadavg", "2.50 1.20 0.80 5/321 4242\n")
    write(tmp_path, "proc/stat", STAT)
    write(tmp_path, "proc/cpuinfo", "processor\t: 0\ncpu MHz\t\t: 2600.000\n\ncpu MHz\t: 2450.5\n")
    return tmp_path


def test_load_times_and_cpu_count(host: Path) -> None:
    assert cpustat.read_loadavg(host) == (2.5, 5)
    times = cpustat.read_cpu_times(host)
    # busy = user + nice + system + irq + softirq; steal separate; guest is inside user already
    assert times == cpustat.CpuTimes(busy=1360, idle=5000, iowait=40, steal=100)
    assert cpustat.count_cpus(host) == 2


def test_shares_between_two_readings() -> None:
    before = cpustat.CpuTimes(busy=100, idle=100, iowait=0, steal=0)
    after = cpustat.CpuTimes(busy=160, idle=120, iowait=5, steal=15)
    part = cpustat.shares(before, after)
    assert part == cpustat.Shares(busy=0.6, steal=0.15, iowait=0.05)
    assert cpustat.shares(after, after) is None  # no time passed


def test_frequency_from_cpufreq_else_cpuinfo(host: Path) -> None:
    assert cpustat.read_min_freq_mhz(host) == 2450.5
    for cpu, khz in (("cpu0", "3000000"), ("cpu1", "1200000"), ("cpu10", "2000000")):
        write(host, f"sys/devices/system/cpu/{cpu}/cpufreq/scaling_cur_freq", khz + "\n")
    assert cpustat.read_min_freq_mhz(host) == 1200.0
    assert cpustat.read_min_freq_mhz(host / "nowhere") is None


@pytest.mark.parametrize(
    "text",
    ["", "garbage\n", "1.0 2.0\n", "x y z 1/2\n"],
)
def test_malformed_loadavg_is_no_reading(host: Path, text: str) -> None:
    write(host, "proc/loadavg", text)
    assert cpustat.read_loadavg(host) is None


def test_malformed_stat_is_no_reading(host: Path) -> None:
    write(host, "proc/stat", "cpu  1 2 x 4\n")
    assert cpustat.read_cpu_times(host) is None
    write(host, "proc/stat", "intr 1\n")
    assert cpustat.read_cpu_times(host) is None and cpustat.count_cpus(host) is None
    write(host, "proc/stat", "cpu  10 0 5 100\n")  # an old kernel: no iowait, irq, steal
    assert cpustat.read_cpu_times(host) == cpustat.CpuTimes(15, 100, 0, 0)


V1 = "9:name=systemd:/\n4:memory:/libpod_parent/libpod-abc\n1:cpu:/libpod_parent/libpod-abc\n0::/\n"


def test_cgroup_v1_cpu_controller_in_nanoseconds(host: Path) -> None:
    write(host, "proc/77/cgroup", V1)
    stat = "nr_periods 40\nnr_throttled 12\nthrottled_time 3500000000\n"
    path = write(host, "sys/fs/cgroup/cpu/libpod_parent/libpod-abc/cpu.stat", stat)
    assert cpustat.cgroup_cpu_stat(host, 77) == path
    assert cpustat.read_throttling(path) == cpustat.Throttling(12, 3_500_000)


def test_cgroup_v1_with_joined_cpu_cpuacct_mount(host: Path) -> None:
    write(host, "proc/78/cgroup", "3:cpu,cpuacct:/docker/xyz\n")
    path = write(host, "sys/fs/cgroup/cpu,cpuacct/docker/xyz/cpu.stat", "nr_throttled 0\n")
    assert cpustat.cgroup_cpu_stat(host, 78) == path


def test_cgroup_v2_in_microseconds(host: Path) -> None:
    write(host, "proc/79/cgroup", "0::/machine.slice/libpod-def.scope\n")
    stat = "usage_usec 100\nnr_periods 9\nnr_throttled 4\nthrottled_usec 2500\n"
    path = write(host, "sys/fs/cgroup/machine.slice/libpod-def.scope/cpu.stat", stat)
    assert cpustat.cgroup_cpu_stat(host, 79) == path
    assert cpustat.read_throttling(path) == cpustat.Throttling(4, 2500)


def test_hybrid_host_prefers_the_v1_cpu_controller(host: Path) -> None:
    """Hybrid mode: the unified tree's cpu.stat has no throttling counters (no cpu
    controller there); the v1 one does."""
    write(host, "proc/80/cgroup", "1:cpu:/pod\n0::/pod\n")
    write(host, "sys/fs/cgroup/unified/pod/cpu.stat", "usage_usec 5\n")
    v1 = write(host, "sys/fs/cgroup/cpu/pod/cpu.stat", "nr_throttled 3\nthrottled_time 1000\n")
    assert cpustat.cgroup_cpu_stat(host, 80) == v1


def test_no_cgroup_answer_and_no_escape(host: Path) -> None:
    assert cpustat.cgroup_cpu_stat(host, 12345) is None  # no such process
    write(host, "proc/81/cgroup", "1:cpu:/../../etc\n0::/../x\n")
    assert cpustat.cgroup_cpu_stat(host, 81) is None
    write(host, "proc/82/cgroup", "1:cpu:/gone\n")  # the container already exited
    assert cpustat.cgroup_cpu_stat(host, 82) is None


# ---------------------------------------------------------------- a real cgroup, a real quota


def _quota_cgroup() -> Path | None:
    """A fresh cgroup limited to 0.2 CPU (v1 cpu controller, else v2 cpu.max), or None."""
    name = f"speedrun-test-{os.getpid()}"
    v1 = Path("/sys/fs/cgroup/cpu")
    try:
        if (v1 / "cpu.cfs_quota_us").exists():
            folder = v1 / name
            folder.mkdir()
            (folder / "cpu.cfs_period_us").write_text("100000")
            (folder / "cpu.cfs_quota_us").write_text("20000")
            return folder
        v2 = Path("/sys/fs/cgroup")
        if "cpu" in (v2 / "cgroup.subtree_control").read_text().split():
            folder = v2 / name
            folder.mkdir()
            (folder / "cpu.max").write_text("20000 100000")
            return folder
    except OSError:
        return None
    return None


@pytest.fixture
def throttled_process() -> Iterator[int]:
    folder = _quota_cgroup()
    if folder is None:
        pytest.skip("no writable cgroup cpu controller here (needs root)")
    busy = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        (folder / "cgroup.procs").write_text(str(busy.pid))
        yield busy.pid
    finally:
        busy.kill()
        busy.wait()
        time.sleep(0.1)
        folder.rmdir()


def test_a_cpu_quota_shows_as_throttling(throttled_process: int) -> None:
    path = cpustat.cgroup_cpu_stat(Path("/"), throttled_process)
    assert path is not None, "the process's cgroup was not found"
    first = cpustat.read_throttling(path)
    time.sleep(1.0)
    last = cpustat.read_throttling(path)
    assert first is not None and last is not None
    # a busy loop under 0.2 CPU is throttled in nearly every 100 ms period
    assert last.nr_throttled - first.nr_throttled >= 5
    assert last.throttled_usec - first.throttled_usec > 300_000
