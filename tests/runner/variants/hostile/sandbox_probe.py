"""Reports what the sandbox lets a harness variant see and do, as one JSON line; never
finishes the protocol (the runner records it as failed). The test reads the report from the
bundle's log. Placeholders (`__X__`) are filled in by the test."""

import json
import multiprocessing
import os
import resource
import socket
import time

from speedrun import harness

TARGETS = []  # FILL: [host, port] pairs of a listener on the host


def try_connect(host, port):
    try:
        with socket.create_connection((host, port), timeout=2):
            return "connected"
    except OSError as exc:
        return type(exc).__name__ + ": " + str(exc)


def try_write(path):
    try:
        with open(path, "a") as f:
            f.write("x")
        return "written"
    except OSError as exc:
        return exc.strerror


def try_read_fifo(path):
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
        os.close(fd)
        return "opened for reading"
    except OSError as exc:
        return exc.strerror


def read(path):
    try:
        with open(path) as f:
            return f.read().strip()
    except OSError as exc:
        return "unreadable: " + exc.strerror


def status_field(name):
    for line in read("/proc/self/status").splitlines():
        if line.startswith(name + ":"):
            return line.split(":", 1)[1].strip()
    return None


def try_open(path):
    try:
        with open(path, "rb") as f:
            f.read(16)
        return "read"
    except OSError as exc:
        return exc.strerror


def spin(seconds):
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        pass


def busy_cores(workers=4, seconds=3.0):
    """CPU seconds per wall second that `workers` spinning processes actually get."""
    started = time.monotonic()
    procs = [multiprocessing.Process(target=spin, args=(seconds,)) for _ in range(workers)]
    for proc in procs:
        proc.start()
    for proc in procs:
        proc.join()
    used = resource.getrusage(resource.RUSAGE_CHILDREN)
    return (used.ru_utime + used.ru_stime) / (time.monotonic() - started)


def cpu_quota():
    if os.path.exists("/sys/fs/cgroup/cpu/cpu.cfs_quota_us"):
        quota = int(read("/sys/fs/cgroup/cpu/cpu.cfs_quota_us"))
        return quota / int(read("/sys/fs/cgroup/cpu/cpu.cfs_period_us"))
    quota, _, period = read("/sys/fs/cgroup/cpu.max").partition(" ")
    return None if quota == "max" else int(quota) / int(period)


def main():
    if os.environ.get("RANK", "0") != "0":
        return
    h = harness.Harness(rank=0, world_size=1)
    h.hello()  # the FIFO is writable through its read-only mount
    cfg = harness.load_config()
    before_warmup_end = {"train": try_open(cfg.train_files[0]), "dev": try_open(cfg.dev_file)}
    h.warmup_end()  # the runner opens the data now
    after_warmup_end = {"train": try_open(cfg.train_files[0]), "dev": try_open(cfg.dev_file)}
    found_bins = []
    for top in ("/speedrun", "/tmp", "/opt", "/home", "/root", "/mnt", "/srv", "/data"):
        for folder, _, files in os.walk(top):
            found_bins += [os.path.join(folder, f) for f in files if f.endswith(".bin")]
    report = {
        "uid": os.getuid(),
        "gid": os.getgid(),
        "groups": os.getgroups(),
        "cap_eff": status_field("CapEff"),
        "no_new_privs": status_field("NoNewPrivs"),
        "interfaces": sorted(os.listdir("/sys/class/net")),
        "connect": {f"{h_}:{p}": try_connect(h_, p) for h_, p in TARGETS},
        "dns": try_connect("pypi.org", 443),
        "fifo_read": try_read_fifo(os.environ["SPEEDRUN_EVENTS"]),
        "writes": {
            p: try_write(p)
            for p in (
                "/etc/probe",
                "/probe",
                "/speedrun/ctl/probe",
                "/speedrun/out/probe",
                "/tmp/probe",
            )
        },
        "memory_limit": read("/sys/fs/cgroup/memory/memory.limit_in_bytes")
        if os.path.exists("/sys/fs/cgroup/memory/memory.limit_in_bytes")
        else read("/sys/fs/cgroup/memory.max"),
        "pids_max": read("/sys/fs/cgroup/pids/pids.max")
        if os.path.exists("/sys/fs/cgroup/pids/pids.max")
        else read("/sys/fs/cgroup/pids.max"),
        "env": sorted(os.environ),
        "data_before_warmup_end": before_warmup_end,
        "data_after_warmup_end": after_warmup_end,
        "cpu_quota_cores": cpu_quota(),
        "busy_cores": busy_cores(),
        "bins": sorted(found_bins),
        "dev_file": cfg.dev_file,
        "val_file": cfg.val_file,
        "train_files": cfg.train_files,
    }
    print("SANDBOX-REPORT " + json.dumps(report, sort_keys=True), flush=True)
    h.close()


if __name__ == "__main__":
    main()
