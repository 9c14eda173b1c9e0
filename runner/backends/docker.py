"""The docker backend: each process runs in a fresh container through the Docker Engine API
(Docker itself, or podman's compatible service: `DOCKER_HOST=unix:///path/podman.sock`).

The sandbox settings come from runner.backends.sandbox. Containers are labelled with the runner's
host and pid; one is always removed when its process ends, when the runner is interrupted
(the signal handler raises in the main thread, and `finally` removes it) or crashes, and a
container left by a runner that was killed outright is removed by the next runner on the
host (`remove_stale_containers`). The clock starts just before `start()`; the output is
streamed on a thread (the stream's end marks the exit) while the main thread waits, so the
wall-clock limit and signals are handled promptly. Nothing calls the engine's `wait`.
"""

from __future__ import annotations

import contextlib
import os
import socket
import threading
import time
from pathlib import Path
from typing import Any

from runner.backends import BackendName, LineSink, ProcessResult, ProcessSpec, StartHook
from runner.backends.guard import OutputGuard
from runner.backends.sandbox import LABEL, container_kwargs
from runner.backends.streams import LineCollector
from runner.errors import EngineError, ImageError

OWNER_LABEL = "speedrun.owner"  # "<host>:<pid>" of the runner that created the container
ROLE_LABEL = "speedrun.role"
STATE_POLL_S = 2.0
STOPPED = ("exited", "stopped", "dead")


def connect(base_url: str | None = None) -> Any:
    """A docker client for DOCKER_HOST (or `base_url`); EngineError when unreachable."""
    import docker

    try:
        client = docker.DockerClient(base_url=base_url) if base_url else docker.from_env()
        client.ping()
    except Exception as exc:
        where = base_url or os.environ.get("DOCKER_HOST") or "the default socket"
        raise EngineError(f"no container engine at {where}: {exc}") from None
    return client


def remove_stale_containers(client: Any) -> list[str]:
    """Remove containers of runners on this host that are no longer alive; return their ids."""
    removed = []
    host = socket.gethostname()
    for container in client.containers.list(all=True, filters={"label": LABEL}):
        owner = container.labels.get(OWNER_LABEL, "")
        owner_host, _, pid = owner.rpartition(":")
        if owner_host == host and pid.isdigit() and _pid_alive(int(pid)):
            continue
        if owner_host != host and owner_host:
            continue  # another host's engine share: not ours to judge
        with contextlib.suppress(Exception):
            container.remove(force=True)
            removed.append(str(container.id))
    return removed


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class DockerBackend:
    name: BackendName = "docker"
    python = "python3"

    def __init__(self, image: str, *, base_url: str | None = None) -> None:
        self.client = connect(base_url)
        try:
            self.image = self.client.images.get(image)
        except Exception:
            raise ImageError(
                f"image {image!r} not found in the engine; build it with "
                "`speedrun image build cpu` (or `make image-cpu`)"
            ) from None
        self.image_name = image
        self.stale_removed = remove_stale_containers(self.client)

    def visible_path(self, mount_target: str, host_path: Path) -> str:
        return mount_target

    def describe(self) -> dict[str, object]:
        return {"name": self.image_name, "digest": str(self.image.id)}

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.client.close()

    def labels(self, spec: ProcessSpec) -> dict[str, str]:
        owner = f"{socket.gethostname()}:{os.getpid()}"
        return {LABEL: "1", OWNER_LABEL: owner, ROLE_LABEL: spec.role, **spec.labels}

    def run(
        self,
        spec: ProcessSpec,
        *,
        on_line: LineSink | None = None,
        on_start: StartHook | None = None,
    ) -> ProcessResult:
        kwargs = container_kwargs(spec, str(self.image.id), self.labels(spec))
        try:
            container = self.client.containers.create(**kwargs)
        except Exception as exc:
            raise EngineError(f"the engine refused the container: {exc}") from None
        try:
            return self._run_container(container, spec, on_line, on_start)
        finally:
            with contextlib.suppress(Exception):
                container.remove(force=True)

    def _run_container(
        self,
        container: Any,
        spec: ProcessSpec,
        on_line: LineSink | None,
        on_start: StartHook | None,
    ) -> ProcessResult:
        collector = LineCollector(on_line)
        exited = threading.Event()
        t0 = time.monotonic()
        container.start()
        sampler = CgroupSampler.for_container(container, on_start)
        streamer = threading.Thread(
            target=_stream_logs, args=(container, collector, exited), daemon=True
        )
        streamer.start()
        deadline = t0 + spec.time_limit_s
        timed_out = False
        guard = OutputGuard(spec.output_dir, spec.output_bytes)
        next_poll_s = t0 + STATE_POLL_S
        while not exited.wait(0.25):
            sampler.sample()
            now = time.monotonic()
            if now >= deadline or guard.check():
                timed_out = now >= deadline
                with contextlib.suppress(Exception):
                    container.kill()
                exited.wait(30)
                break
            if now >= next_poll_s:  # in case the log stream broke off early
                next_poll_s = now + STATE_POLL_S
                if _state(container).get("Status") in STOPPED:
                    break
        t_end = time.monotonic()
        streamer.join(timeout=10)
        code = _exit_code(container)
        return ProcessResult(
            exit_code=None if timed_out else code,
            timed_out=timed_out,
            oom_killed=not timed_out and _oom_killed(container, sampler, code, spec),
            t0_s=t0,
            t_end_s=t_end,
            output=collector.finish(),
            peak_memory_bytes=sampler.peak_bytes,
            killed_by_signal=code - 128 if code is not None and code > 128 else None,
            limit_exceeded=guard.exceeded,
        )


def _stream_logs(container: Any, collector: LineCollector, exited: threading.Event) -> None:
    """Follow the output; the stream ends when the container exits, which is how the runner
    learns of the exit. (podman 4's `wait` endpoint busy-polls: ~40% of a core for as long
    as a wait is pending, which on two cores slows the very run being timed.)"""
    try:
        for chunk in container.logs(stream=True, follow=True, stdout=True, stderr=True):
            collector.feed(chunk)
    except Exception:
        pass
    finally:
        exited.set()


def _state(container: Any) -> dict[str, Any]:
    try:
        container.reload()
        state: dict[str, Any] = container.attrs["State"]
    except Exception:
        return {}
    return state


def _exit_code(container: Any) -> int | None:
    """The exit status once the container has stopped (polling briefly if it has not)."""
    for _ in range(40):
        state = _state(container)
        if state.get("Status") in STOPPED:
            code = state.get("ExitCode")
            return int(code) if code is not None else None
        time.sleep(0.25)
    return None


def _oom_killed(
    container: Any, sampler: CgroupSampler, code: int | None, spec: ProcessSpec
) -> bool:
    """podman does not report OOMKilled (cgroup v1); the kernel's counter and a peak at the
    limit tell instead. The OOM killer often hits a worker, not the launcher."""
    return (
        _engine_says_oom(container)
        or sampler.oom_kills > 0
        or (code != 0 and sampler.near_limit(spec.memory_bytes))
    )


def _engine_says_oom(container: Any) -> bool:
    try:
        container.reload()
        return bool(container.attrs["State"].get("OOMKilled"))
    except Exception:
        return False


class CgroupSampler:
    """Peak memory of a container read from its cgroup on this host (v1 or v2).

    The Docker stats API has no peak figure on every engine (podman's has none), so the
    runner reads the kernel's own high-water mark while the container lives.
    """

    def __init__(self, files: list[Path], oom_files: list[Path] | None = None) -> None:
        self.files = files
        self.oom_files = oom_files or []
        self.peak_bytes: int | None = None
        self.oom_kills = 0
        self._next_s = 0.0

    @classmethod
    def for_container(cls, container: Any, on_start: StartHook | None = None) -> CgroupSampler:
        """The sampler of a started container; `on_start` learns its host pid (when known)."""
        try:
            container.reload()
            pid = int(container.attrs["State"]["Pid"])
            if on_start is not None and pid > 0:
                on_start(pid)
            lines = Path(f"/proc/{pid}/cgroup").read_text().splitlines()
        except Exception:
            return cls([])
        files, oom_files = [], []
        for line in lines:
            _, controllers, path = line.split(":", 2)
            if "memory" in controllers.split(","):  # cgroup v1
                folder = Path("/sys/fs/cgroup/memory" + path)
                files.append(folder / "memory.max_usage_in_bytes")
                oom_files.append(folder / "memory.oom_control")
            elif controllers == "":  # cgroup v2
                folder = Path("/sys/fs/cgroup" + path)
                files.append(folder / "memory.peak")
                oom_files.append(folder / "memory.events")
        return cls([f for f in files if f.exists()], [f for f in oom_files if f.exists()])

    def sample(self) -> None:
        now = time.monotonic()
        if now < self._next_s:
            return
        self._next_s = now + 0.25
        for f in self.files:
            with contextlib.suppress(OSError, ValueError):
                self.peak_bytes = max(self.peak_bytes or 0, int(f.read_text().strip()))
        for f in self.oom_files:  # "oom_kill N" in v1 memory.oom_control and v2 memory.events
            with contextlib.suppress(OSError, ValueError):
                for line in f.read_text().splitlines():
                    if line.startswith("oom_kill "):
                        self.oom_kills = max(self.oom_kills, int(line.split()[1]))

    def near_limit(self, limit_bytes: int) -> bool:
        return self.peak_bytes is not None and self.peak_bytes >= 0.9 * limit_bytes
