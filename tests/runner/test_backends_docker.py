"""The docker backend against a real engine: podman's Docker-compatible service, started here,
and the CPU image, built here (once; reused while its sources are unchanged).

Every sandbox property is checked from inside a container, since an engine can accept an
option and ignore it; hostile variants try to break out and must be contained, each with a
bundle that records a clear failure status or flag.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from runner_helpers import (
    HOSTILE,
    SEED_RECIPE,
    TINY,
    VARIANTS,
    bundles,
    cli,
    filled_variant,
    load,
    tiny_variant,
)

from runner.cpustat import cgroup_cpu_stat
from runner.trainlog import RULER
from speedrun.data import shards
from speedrun.machine import machine_conditions
from speedrun.tracks import get_track

pytestmark = [pytest.mark.slow, pytest.mark.container]
TRACK = get_track("cpu-smoke")


@pytest.fixture(scope="module")
def listener() -> Iterator[tuple[list[list[Any]], list[str]]]:
    """A TCP listener on every host address; records anyone who connects."""
    server = socket.socket()
    server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    server.bind(("0.0.0.0", 0))
    server.listen()
    server.settimeout(0.2)
    port = server.getsockname()[1]
    seen: list[str] = []
    stop = threading.Event()

    def accept() -> None:
        while not stop.is_set():
            try:
                conn, addr = server.accept()
            except TimeoutError:
                continue
            seen.append(f"{addr[0]}:{addr[1]}")
            conn.close()

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    targets = [["127.0.0.1", port], [host_address(), port], ["10.88.0.1", port]]
    yield targets, seen
    stop.set()
    thread.join()
    server.close()


def host_address() -> str:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        try:
            s.connect(("192.0.2.1", 9))  # no packet is sent; picks the outgoing interface
            return str(s.getsockname()[0])
        except OSError:
            return "127.0.0.1"


def run_docker(
    variant: Path, out: Path, data: Path, key: Path, image: str, *extra: str
) -> tuple[int, str, list[dict[str, Any]]]:
    code, _, err = cli(
        "run",
        str(variant),
        "--track",
        "cpu-smoke",
        "--backend",
        "docker",
        "--image",
        image,
        "--out",
        str(out),
        "--key",
        str(key),
        "--data-dir",
        str(data),
        "--quiet",
        *extra,
    )
    return code, err, [load(p).manifest for p in bundles(out)]


def log_of(out: Path) -> str:
    """What the process printed: the bundle's log past its header (code, versions)."""
    (path,) = bundles(out)
    return load(path).text("log.txt").split(RULER + "\n", 2)[2]


def report(out: Path, tag: str) -> dict[str, Any]:
    line = next(ln for ln in log_of(out).splitlines() if ln.startswith(tag + " "))
    data: dict[str, Any] = json.loads(line[len(tag) + 1 :])
    return data


def no_runner_containers(engine: Any) -> bool:
    """None of this process's containers is left (others may share the engine's storage)."""
    owner = f"speedrun.owner={socket.gethostname()}:{os.getpid()}"
    return not engine.containers.list(all=True, filters={"label": owner})


# ----------------------------------------------------------------- the reference variant


def test_reference_variant_end_to_end(
    engine: Any, image: str, tmp_path: Path, smoke_data_dir: Path, runner_key: Path
) -> None:
    variant = SEED_RECIPE if SEED_RECIPE.exists() else TINY
    code, err, (m,) = run_docker(variant, tmp_path, smoke_data_dir, runner_key, image)
    assert code == 0, err
    verify = cli("verify", str(bundles(tmp_path)[0]), "--pubkey", str(runner_key) + ".pub")
    assert verify[0] == 0, verify[2]
    fig = m["figures"]
    assert m["backend"] == "docker" and m["exit"]["status"] == "completed"
    assert m["fingerprint"]["image"] == {"name": image, "digest": engine.images.get(image).id}
    assert m["fingerprint"]["software"]["torch"].startswith("2.13.0")
    assert m["sandbox"]["kind"] == "container" and not m["sandbox"]["val_visible_to_training"]
    assert fig["val_loss_source"] == "independently-evaluated"
    # the runner's loss (scored slice) is close to the variant's own (dev tail)
    assert abs(fig["independent_val_loss"] - fig["self_reported_val_loss"]) < 0.05 * fig["val_loss"]
    assert abs(fig["time_disagreement"]) < 0.02
    assert m["evaluation"]["causality"]["passed"]
    assert no_runner_containers(engine)
    check_machine_record(m)


def check_machine_record(m: dict[str, Any]) -> None:
    """FLOPs counted on the export (the closed form of tests/runner/test_flops.py), the
    calibration run in the container, telemetry that read the container's own cgroup."""
    sc, T = TRACK.scale, TRACK.evaluation.seq_len
    L, d = sc.n_layer, sc.n_embd
    closed_form = 2 * 12 * L * d * d + 2 * d * sc.vocab_size + 4 * L * T * d
    c = m["compute"]
    assert c["forward_flops_per_token"] == pytest.approx(closed_form, rel=0.05)
    assert c["train_tokens_within_ceiling"] and c["mfu"] > 0
    cal = m["fingerprint"]["hardware"]["calibration"]
    assert cal["device"] == "cpu" and cal["threads"] == TRACK.hardware.count
    tele = m["telemetry"]
    assert tele["samples"] >= 1 and tele["cgroup"] is not None
    assert tele["cgroup"] != str(cgroup_cpu_stat(Path("/"), os.getpid()))  # not the runner's
    assert tele["conditions"] == machine_conditions(m)


def test_legacy_variant_in_a_container(
    engine: Any, image: str, tmp_path: Path, smoke_data_dir: Path, runner_key: Path
) -> None:
    """A legacy script finds data/<dataset>/ (validation shard included) where it expects it;
    its loss is self-reported, its time the process's wall time."""
    code, err, (m,) = run_docker(
        VARIANTS / "legacy_bigram.py", tmp_path, smoke_data_dir, runner_key, image
    )
    assert code == 0, err
    fig = m["figures"]
    assert m["exit"]["status"] == "completed" and fig["val_loss_source"] == "self-reported"
    assert m["sandbox"]["val_visible_to_training"] is True
    assert fig["time_ms"] == fig["wall_ms"] and m["timing"]["method"] == "process-wall"
    # Without a deployment secret the only flag is the held-out one (never an official run).
    assert [f.split(":")[0] for f in m["flags"]] == ["held-out"]
    verify = " ".join(cli("verify", str(bundles(tmp_path)[0]))[1:])
    assert [
        line for line in verify.splitlines() if "flag:" in line and "held-out" not in line
    ] == []


# ----------------------------------------------------------------- sandbox, from inside


def test_sandbox_properties_seen_from_inside(
    engine: Any,
    image: str,
    tmp_path: Path,
    smoke_data_dir: Path,
    runner_key: Path,
    listener: tuple[list[list[Any]], list[str]],
) -> None:
    targets, seen = listener
    variant = filled_variant(HOSTILE / "sandbox_probe.py", tmp_path / "probe.py", TARGETS=targets)
    code, _, (m,) = run_docker(variant, tmp_path / "out", smoke_data_dir, runner_key, image)
    assert code == 1 and m["exit"]["status"] == "failed"  # it never says `done`
    r = report(tmp_path / "out", "SANDBOX-REPORT")
    assert (r["uid"], r["gid"]) == (1000, 1000) and 0 not in r["groups"]
    assert int(r["cap_eff"], 16) == 0 and r["no_new_privs"] == "1"
    assert r["interfaces"] == ["lo"]
    assert r["fifo_read"] == "Permission denied"  # the event channel is write-only
    assert not any(v == "connected" for v in r["connect"].values()), r["connect"]
    assert r["dns"] != "connected" and seen == []
    assert r["writes"] == {
        "/etc/probe": "Read-only file system",
        "/probe": "Read-only file system",
        "/speedrun/ctl/probe": "Read-only file system",
        "/speedrun/out/probe": "written",
        "/tmp/probe": "written",
    }
    assert int(r["memory_limit"]) == TRACK.limits.memory_bytes
    assert int(r["pids_max"]) == TRACK.limits.pids
    allowed = {
        "PATH",
        "HOME",
        "HOSTNAME",
        "LANG",
        "PYTHONDONTWRITEBYTECODE",
        "PYTHONPATH",  # the read-only control folder, for runner.stdio_site
        "PYTHONUNBUFFERED",
        "SPEEDRUN_CONFIG",
        "SPEEDRUN_EVENTS",
        "SPEEDRUN_SEED",
        "container",
        "TERM",
    }
    torchrun = {
        "RANK",
        "LOCAL_RANK",
        "WORLD_SIZE",
        "LOCAL_WORLD_SIZE",
        "GROUP_RANK",
        "ROLE_RANK",
        "ROLE_NAME",
        "ROLE_WORLD_SIZE",
        "GROUP_WORLD_SIZE",
        "MASTER_ADDR",
        "MASTER_PORT",
        "TORCHELASTIC_RESTART_COUNT",
        "TORCHELASTIC_MAX_RESTARTS",
        "TORCHELASTIC_RUN_ID",
        "TORCHELASTIC_USE_AGENT_STORE",
        "TORCH_NCCL_ASYNC_ERROR_HANDLING",
        "TORCHELASTIC_ERROR_FILE",
        "OMP_NUM_THREADS",
        "TORCHELASTIC_SIGNALS_TO_HANDLE",
    }
    assert set(r["env"]) <= allowed | torchrun, set(r["env"]) - allowed - torchrun
    # the scored validation tokens are nowhere: only the train shards and the dev tail
    assert sorted(os.path.basename(b) for b in r["bins"]) == [
        "dev_000000.bin",
        "synthlang_train_000001.bin",
    ]
    assert r["val_file"] is None and r["dev_file"] == "/speedrun/data/dev_000000.bin"
    # no training data before warmup_end: the warmup can only use tokens it makes up
    assert r["data_before_warmup_end"] == {"train": "Permission denied", "dev": "Permission denied"}
    assert r["data_after_warmup_end"] == {"train": "read", "dev": "read"}
    # the track's two cores, whatever the host has: four spinning processes get two
    assert r["cpu_quota_cores"] == TRACK.hardware.count
    assert r["busy_cores"] < TRACK.hardware.count * 1.15, r["busy_cores"]
    events = load(bundles(tmp_path / "out")[0]).text("events.jsonl")
    assert '"event": "hello"' in events  # the FIFO works through its read-only mount


# ----------------------------------------------------------------- hostile variants


def test_network_is_unreachable(
    engine: Any,
    image: str,
    tmp_path: Path,
    smoke_data_dir: Path,
    runner_key: Path,
    listener: tuple[list[list[Any]], list[str]],
) -> None:
    targets, seen = listener
    variant = filled_variant(HOSTILE / "network.py", tmp_path / "net.py", TARGETS=targets)
    code, _, (m,) = run_docker(variant, tmp_path / "out", smoke_data_dir, runner_key, image)
    log = log_of(tmp_path / "out")
    assert "CONTAINED" in log and "BREACH" not in log and seen == []
    assert code == 1 and m["exit"]["status"] == "failed"


def test_signing_key_and_secrets_stay_outside(
    engine: Any,
    image: str,
    tmp_path: Path,
    smoke_data_dir: Path,
    runner_key: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    secret = "s3cr3t-" + os.urandom(8).hex()
    monkeypatch.setenv("SPEEDRUN_TEST_SECRET", secret)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", secret + "-aws")
    pem = runner_key.read_text().splitlines()[1]  # a line of the key's base64
    variant = filled_variant(
        HOSTILE / "secrets.py",
        tmp_path / "secrets.py",
        REVERSED_NEEDLES=[secret[::-1], pem[::-1]],
        KEY_PATHS=[str(runner_key), str(runner_key.parent)],
    )
    code, _, (m,) = run_docker(variant, tmp_path / "out", smoke_data_dir, runner_key, image)
    log = log_of(tmp_path / "out")
    assert "CONTAINED" in log and "BREACH" not in log, log[-2000:]
    assert code == 1 and m["exit"]["status"] == "failed"


def test_harness_variant_cannot_read_the_validation_tokens(
    engine: Any, image: str, tmp_path: Path, smoke_data_dir: Path, runner_key: Path
) -> None:
    val = shards.read_shard(smoke_data_dir / TRACK.dataset.name / TRACK.dataset.val_file.name)
    variant = filled_variant(
        HOSTILE / "read_val.py",
        tmp_path / "read_val.py",
        VAL_NAME=TRACK.dataset.val_file.name,
        SLICE_HEAD=[int(t) for t in val[:32]],
    )
    code, _, (m,) = run_docker(variant, tmp_path / "out", smoke_data_dir, runner_key, image)
    assert "VAL-SEARCH nothing found" in log_of(tmp_path / "out")
    assert code == 1 and m["exit"]["status"] == "failed"
    assert "No such file" in m["exit"]["reason"]


def test_writes_outside_the_output_directory_fail(
    engine: Any, image: str, tmp_path: Path, smoke_data_dir: Path, runner_key: Path
) -> None:
    variant = tmp_path / "writes.py"
    variant.write_bytes((HOSTILE / "writes.py").read_bytes())
    before = variant.read_bytes()
    code, _, (m,) = run_docker(variant, tmp_path / "out", smoke_data_dir, runner_key, image)
    results = dict(
        line.split(" ", 2)[1:]
        for line in log_of(tmp_path / "out").splitlines()
        if line.startswith("WRITE ")
    )
    allowed = {"/tmp/scratch", "out-file.txt"}
    assert {p for p, r in results.items() if r == "written"} == allowed, results
    assert len(results) == 10
    assert "CHMOD Read-only file system" in log_of(tmp_path / "out")
    assert variant.read_bytes() == before
    assert m["variant"]["sha256"] == __import__("hashlib").sha256(before).hexdigest()
    assert code == 1 and m["exit"]["status"] == "failed"


def test_a_fork_bomb_stops_at_the_pids_limit(
    engine: Any, image: str, tmp_path: Path, smoke_data_dir: Path, runner_key: Path
) -> None:
    code, _, (m,) = run_docker(
        HOSTILE / "forkbomb.py",
        tmp_path / "out",
        smoke_data_dir,
        runner_key,
        image,
        "--time-limit",
        "25",
    )
    log = log_of(tmp_path / "out")
    assert "FORKS" in log and "Resource temporarily unavailable" in log
    forks = [int(line.split()[1]) for line in log.splitlines() if line.startswith("FORKS ")]
    assert max(forks) < TRACK.limits.pids
    assert code == 1 and m["exit"]["status"] in {"failed", "timeout", "killed"}
    assert no_runner_containers(engine)


def test_unbounded_memory_is_killed_at_the_limit(
    engine: Any, image: str, tmp_path: Path, smoke_data_dir: Path, runner_key: Path
) -> None:
    code, _, (m,) = run_docker(
        HOSTILE / "memory.py", tmp_path / "out", smoke_data_dir, runner_key, image
    )
    allocated = [
        int(line.split()[1])
        for line in log_of(tmp_path / "out").splitlines()
        if line.startswith("ALLOCATED ")
    ]
    assert max(allocated) * 2**20 <= TRACK.limits.memory_bytes
    assert code == 1 and m["exit"]["status"] == "killed"
    assert "out of memory" in m["exit"]["reason"]
    assert no_runner_containers(engine)


def test_filling_the_output_directory_is_stopped_at_the_bound(
    engine: Any, image: str, tmp_path: Path, smoke_data_dir: Path, runner_key: Path
) -> None:
    variant = HOSTILE / "disk_fill.py"
    code, _, (m,) = run_docker(variant, tmp_path / "out", smoke_data_dir, runner_key, image)
    assert code == 1 and m["exit"]["status"] == "killed", m["exit"]
    assert "output directory grew past" in m["exit"]["reason"]
    assert no_runner_containers(engine)


def test_a_log_flood_is_bounded_in_the_engine_and_in_the_runner(
    engine: Any, image: str, tmp_path: Path, smoke_data_dir: Path, runner_key: Path
) -> None:
    """300 MB on stdout without a newline: the engine keeps at most its cap on disk (seen
    from the host while the container runs), the bundle's log at most its own."""
    from runner.backends.sandbox import LOG_BYTES

    biggest: list[int] = [0]
    stop = threading.Event()

    def watch() -> None:
        while not stop.is_set():
            for c in engine.containers.list(filters={"label": "speedrun.role=train"}):
                path = c.attrs.get("LogPath")
                if path and os.path.exists(path):
                    biggest[0] = max(biggest[0], os.path.getsize(path))
            time.sleep(0.1)

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    try:
        _, _, (m,) = run_docker(
            HOSTILE / "log_flood.py", tmp_path / "out", smoke_data_dir, runner_key, image
        )
    finally:
        stop.set()
        watcher.join()
    assert 0 < biggest[0] <= LOG_BYTES * 1.1, biggest[0]
    bundle = load(bundles(tmp_path / "out")[0])
    assert len(bundle.members["log.txt"]) <= 16 * 1024 * 1024
    assert m["exit"]["status"] == "failed"  # it never said done


def test_running_past_the_time_limit_is_a_timeout(
    engine: Any, image: str, tmp_path: Path, smoke_data_dir: Path, runner_key: Path
) -> None:
    variant = tmp_path / "sleeper.py"
    variant.write_text("import time\nprint('sleeping', flush=True)\ntime.sleep(3600)\n")
    code, _, (m,) = run_docker(
        variant, tmp_path / "out", smoke_data_dir, runner_key, image, "--time-limit", "8"
    )
    assert code == 1 and m["exit"]["status"] == "timeout"
    assert 8000 <= m["figures"]["wall_ms"] < 40000
    assert no_runner_containers(engine)


def test_fake_claims_lose_to_the_runners_figures(
    engine: Any, image: str, tmp_path: Path, smoke_data_dir: Path, runner_key: Path
) -> None:
    fake = (
        "if rank == 0:\n"
        '    print(f"step:{steps}/{steps} val_loss:1.0000 train_time:1ms step_avg:0.02ms", flush=True)\n'
        "train_ms = 1.0"
    )
    variant = tiny_variant(
        tmp_path, "braggart", {"start": 'os.environ["TINY_STEPS"] = "20"', "done": fake}
    )
    code, err, (m,) = run_docker(variant, tmp_path / "out", smoke_data_dir, runner_key, image)
    # Claims this far from the runner's own figures break the track's rules: the run is a
    # rule_violation (exit 1), with both disagreements named, and never a completed run.
    assert code == 1, err
    fig = m["figures"]
    assert m["exit"]["status"] == "rule_violation"
    assert fig["self_reported_val_loss"] == 1.0 and fig["self_reported_train_time_ms"] == 1.0
    # The runner's own figures count: 20 real steps take hundreds of ms (377 ms seen on a busy
    # CI host), far from the 1 ms claimed; the bound only has to sit well above the claim.
    assert fig["time_ms"] > 50 and fig["val_loss"] > 3.0
    assert fig["time_disagreement"] > 0.9
    reasons = " ".join(m["violations"])
    assert "time disagreement" in reasons and "loss disagreement" in reasons


# ----------------------------------------------------------------- cleanup


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_an_interrupted_runner_removes_its_container(
    engine: Any,
    image: str,
    tmp_path: Path,
    smoke_data_dir: Path,
    runner_key: Path,
    sig: signal.Signals,
) -> None:
    variant = tmp_path / "sleeper.py"
    variant.write_text("import time\ntime.sleep(3600)\n")
    out = tmp_path / "out"
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "speedrun.cli",
            "run",
            str(variant),
            "--track",
            "cpu-smoke",
            "--backend",
            "docker",
            "--image",
            image,
            "--out",
            str(out),
            "--key",
            str(runner_key),
            "--data-dir",
            str(smoke_data_dir),
            "--quiet",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        # As at a terminal: a suite started in the background (`cmd &` in a script) hands its
        # children SIGINT ignored, and Python then never installs its KeyboardInterrupt handler.
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    owner = f"{socket.gethostname()}:{proc.pid}"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and proc.poll() is None:
        running = engine.containers.list(
            filters={"label": [f"speedrun.owner={owner}", "speedrun.role=train"]}
        )
        if running:
            break
        time.sleep(0.3)
    else:
        proc.kill()
        pytest.fail(f"no training container appeared: {proc.communicate()}")
    time.sleep(1.0)
    proc.send_signal(sig)
    _, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 130, stderr
    assert "interrupted" in stderr
    assert not engine.containers.list(all=True, filters={"label": f"speedrun.owner={owner}"})
    assert not out.exists() or list(out.iterdir()) == []


def test_containers_of_dead_runners_are_removed(engine: Any, image: str) -> None:
    from runner.backends.docker import DockerBackend

    dead = subprocess.Popen(["true"])
    dead.wait()
    stale = engine.containers.create(
        image,
        ["sleep", "1"],
        labels={"speedrun.runner": "1", "speedrun.owner": f"{socket.gethostname()}:{dead.pid}"},
    )
    backend = DockerBackend(image)
    backend.close()
    assert stale.id in backend.stale_removed
    assert not engine.containers.list(all=True, filters={"id": stale.id})


def test_a_missing_image_is_a_clear_error(
    engine: Any, tmp_path: Path, smoke_data_dir: Path, runner_key: Path
) -> None:
    code, err, _ = run_docker(
        VARIANTS / "legacy_bigram.py",
        tmp_path / "out",
        smoke_data_dir,
        runner_key,
        "localhost/no-such-image:1",
    )
    assert code == 1 and "not found" in err and "image build cpu" in err
