"""The container settings that make the sandbox, derived from a ProcessSpec.

Every property here is checked from inside a container by tests/runner/test_backends_docker.py,
since an engine can accept an option and silently ignore it:

    network_mode "none"     no interface but loopback: no connection leaves the container
    read_only rootfs        nothing but the mounts marked writable (and a small /tmp) can change
    user 1000:1000          not root; all capabilities dropped; no-new-privileges
    mem_limit = memswap     the track's memory, no swap on top
    pids_limit              the track's process/thread bound (a fork bomb stops there)
    nano_cpus               a CPU track's cores (2 on cpu-tiny), whatever the host has
    log_config max-size     the engine keeps at most LOG_BYTES of the container's output
                            (the runner streams and bounds its own copy as it arrives)
    environment             exactly the spec's variables: nothing of the runner's own
    mounts                  only what the attempt lists (the signing key is never among them)
"""

from __future__ import annotations

from typing import Any

from runner.backends import ProcessSpec
from runner.workspace import SANDBOX_GID, SANDBOX_UID

LABEL = "speedrun.runner"  # every container the runner creates carries it
TMPFS_BYTES = 512 * 1024 * 1024
LOG_BYTES = 64 * 1024 * 1024


def container_kwargs(spec: ProcessSpec, image: str, labels: dict[str, str]) -> dict[str, Any]:
    """Keyword arguments for docker's `containers.create`."""
    from docker.types import DeviceRequest, LogConfig, Mount

    mounts = [
        Mount(target=m.target, source=str(m.source), type="bind", read_only=m.read_only)
        for m in spec.mounts
    ]
    kwargs: dict[str, Any] = {
        "image": image,
        "command": spec.argv,
        "environment": dict(spec.env),
        "working_dir": spec.cwd,
        "user": f"{SANDBOX_UID}:{SANDBOX_GID}",
        "network_mode": "none",
        "read_only": True,
        "mounts": mounts,
        "tmpfs": {"/tmp": f"rw,nosuid,nodev,size={TMPFS_BYTES},mode=1777"},
        "mem_limit": spec.memory_bytes,
        "memswap_limit": spec.memory_bytes,
        "pids_limit": spec.pids,
        "shm_size": min(spec.memory_bytes // 4, 8 * 1024**3),
        "cap_drop": ["ALL"],
        "security_opt": ["no-new-privileges"],
        "labels": labels,
        "stdin_open": False,
        "tty": False,
        "detach": True,
        "log_config": LogConfig(
            type=LogConfig.types.JSON, config={"max-size": str(LOG_BYTES), "max-file": "1"}
        ),
    }
    if spec.cpus:
        kwargs["nano_cpus"] = int(spec.cpus * 1e9)
    if spec.gpus:
        kwargs["device_requests"] = [DeviceRequest(count=spec.gpus, capabilities=[["gpu"]])]
    return kwargs
