"""runner.backends.sandbox: the container settings made from a ProcessSpec. Each property is
checked from inside a real container in tests/runner/test_backends_docker.py; here, that the
settings asked of the engine are those the sandbox promises, for every kind of spec."""

from __future__ import annotations

from pathlib import Path

from docker.types import DeviceRequest

from runner.backends import Mount, ProcessSpec
from runner.backends.sandbox import LOG_BYTES, TMPFS_BYTES, container_kwargs
from runner.workspace import SANDBOX_GID, SANDBOX_UID

GIB = 1024**3


def spec(**changes: object) -> ProcessSpec:
    base: dict[str, object] = {
        "argv": ["python", "train.py"],
        "env": {"SPEEDRUN_CONFIG": "/run/config.json"},
        "cwd": "/work",
        "mounts": [Mount(Path("/host/code"), "/work"), Mount(Path("/host/out"), "/out", False)],
        "time_limit_s": 60,
        "memory_bytes": 4 * GIB,
        "pids": 256,
    }
    return ProcessSpec(**(base | changes))  # type: ignore[arg-type]


def test_the_sandbox_settings() -> None:
    kw = container_kwargs(spec(), "speedrun-cpu:latest", {"speedrun.runner": "1"})
    assert kw["image"] == "speedrun-cpu:latest" and kw["command"] == ["python", "train.py"]
    assert kw["network_mode"] == "none" and kw["read_only"] is True
    assert kw["user"] == f"{SANDBOX_UID}:{SANDBOX_GID}" and kw["user"] != "0:0"
    assert kw["cap_drop"] == ["ALL"] and kw["security_opt"] == ["no-new-privileges"]
    assert kw["mem_limit"] == kw["memswap_limit"] == 4 * GIB  # no swap on top
    assert kw["pids_limit"] == 256 and kw["shm_size"] == GIB
    assert kw["tmpfs"] == {"/tmp": f"rw,nosuid,nodev,size={TMPFS_BYTES},mode=1777"}
    assert kw["log_config"]["Config"] == {"max-size": str(LOG_BYTES), "max-file": "1"}
    assert kw["labels"] == {"speedrun.runner": "1"}
    assert "nano_cpus" not in kw and "device_requests" not in kw


def test_exactly_the_specs_environment_and_mounts() -> None:
    s = spec()
    kw = container_kwargs(s, "img", {})
    assert kw["environment"] == {"SPEEDRUN_CONFIG": "/run/config.json"}
    assert kw["environment"] is not s.env  # a copy: the spec stays as it was
    mounts = [(m["Source"], m["Target"], m["Type"], m["ReadOnly"]) for m in kw["mounts"]]
    assert mounts == [("/host/code", "/work", "bind", True), ("/host/out", "/out", "bind", False)]


def test_cpu_cores_and_gpus_when_the_track_has_them() -> None:
    kw = container_kwargs(spec(cpus=2.0, gpus=8), "img", {})
    assert kw["nano_cpus"] == 2_000_000_000
    [request] = kw["device_requests"]
    assert isinstance(request, DeviceRequest)
    assert request["Count"] == 8 and request["Capabilities"] == [["gpu"]]


def test_shared_memory_is_capped_for_large_memory_limits() -> None:
    assert container_kwargs(spec(memory_bytes=1024 * GIB), "img", {})["shm_size"] == 8 * GIB
