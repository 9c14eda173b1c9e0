"""`speedrun agent`: a long-running runner that pulls jobs from the server and executes them.

One job at a time: claim (a lease), heartbeat while working, run the job's remaining runs
through the runner (docker backend by default) one attempt at a time, upload each bundle
under the lease with retries until the server acknowledges it, then complete the job.

Surviving restarts: every bundle is written to a spool directory before it is uploaded and
moved to `acked/` once the server acknowledged it. A restarted agent first re-sends what it
left unacknowledged; when that lease is gone (the server re-queued the job after the lease
expired, so someone will run it again), the bundle moves to `abandoned/` rather than being
counted a second time. Ingest is idempotent by the bundle's sha256, so a retry after a lost
answer never stores a run twice.
"""

from __future__ import annotations

import json
import os
import signal
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import Any

from runner.client import (
    AgentEnvironment,
    Job,
    ServerClient,
    ServerRefusedError,
    ServerUnavailableError,
    with_retries,
)
from runner.errors import RunInterruptedError
from runner.keys import load_signing_key
from speedrun.data.heldout import HeldOutSecret
from speedrun.tracks import get_track

LEASE_GONE = {"lease-expired", "lease-lost", "unknown-job", "job-full"}


@dataclass(frozen=True)
class AgentOptions:
    server: str
    key_path: Path | None = None
    backend: str = "docker"
    data_dir: Path = Path("data")
    held_out: HeldOutSecret | None = None  # the deployment's secret (speedrun.data.heldout)
    work_dir: Path = Path("var/agent")
    image: str | None = None
    accelerator: str = "cpu"  # what this agent runs: "cpu" tracks, or "cuda" ones
    poll_s: float = 5.0
    once: bool = False  # stop when the queue is empty
    max_jobs: int | None = None
    quiet: bool = True
    log: Any = None  # a callable(str) for status lines; default print


BASELINE_FILE = "baseline"  # the folder of an A/B job's record variant, in the lease folder


@dataclass
class Lease:
    job: Job
    lease_id: str
    nonce: str  # the job's nonce from the claim answer, signed into every bundle
    lost: threading.Event = field(default_factory=threading.Event)

    @property
    def job_id(self) -> int:
        return self.job.id


class Spool:
    """Bundles on disk: `pending/JOB-LEASE/NAME` until acknowledged, then `acked/`."""

    def __init__(self, root: Path) -> None:
        self.root = root
        for sub in ("pending", "acked", "abandoned", "rejected", "sessions"):
            (root / sub).mkdir(parents=True, exist_ok=True)
        self.sessions = (root / "sessions").resolve()

    def lease_dir(self, lease: Lease) -> Path:
        path = self.root / "pending" / f"{lease.job_id}-{lease.lease_id}"
        path.mkdir(parents=True, exist_ok=True)
        return path

    def pending(self) -> Iterator[tuple[int, str, Path]]:
        for folder in sorted((self.root / "pending").iterdir()):
            job, _, lease_id = folder.name.partition("-")
            for bundle in sorted(folder.glob("*.bundle.tar.gz")):
                yield int(job), lease_id, bundle

    def move(self, bundle: Path, where: str) -> None:
        target = self.root / where / bundle.parent.name
        target.mkdir(parents=True, exist_ok=True)
        os.replace(bundle, target / bundle.name)


class Agent:
    def __init__(self, opts: AgentOptions) -> None:
        self.opts = opts
        self.key, _ = load_signing_key(opts.key_path)
        self.client = ServerClient(opts.server, key=self.key)
        self.spool = Spool(opts.work_dir)
        self.stopping = threading.Event()
        self.log = opts.log or (lambda line: print(line, flush=True))

    # -- the loop ---------------------------------------------------------------------------
    def serve(self) -> int:
        self.resend_pending()
        done = 0
        while not self.stopping.is_set():
            lease = self._claim()
            if lease is None:
                if self.opts.once:
                    break
                self.stopping.wait(self.opts.poll_s)
                continue
            self.run_job(lease)
            done += 1
            if self.opts.max_jobs is not None and done >= self.opts.max_jobs:
                break
        self.client.close()
        return 0

    def environment(self) -> AgentEnvironment:
        """What this agent runs in, announced with each claim: its hardware (the server hands
        it only jobs whose track it fits: accelerator kind, count, GPU model) and its image
        and runner version (a new one re-runs records)."""
        from runner.fingerprint import nvidia_smi_gpus
        from speedrun import __version__

        digest = None
        if self.opts.backend == "docker":
            from runner.backends.docker import connect
            from runner.session import DEFAULT_CPU_IMAGE, DEFAULT_CUDA_IMAGE

            default = DEFAULT_CUDA_IMAGE if self.opts.accelerator == "cuda" else DEFAULT_CPU_IMAGE
            try:
                digest = str(connect().images.get(self.opts.image or default).id)
            except Exception as exc:  # no image yet: the run will say why
                self.log(f"agent: cannot inspect the image ({exc})")
        count = len(os.sched_getaffinity(0))  # the cores this agent may use
        model = None
        if self.opts.accelerator == "cuda":
            # GPUs of one model (the first one's): a track naming a model needs all of them.
            names = [str(g.get("name") or "") for g in nvidia_smi_gpus()]
            model = names[0] if names else None
            count = sum(1 for n in names if n == model) if model else 0
        return {
            "accelerator": self.opts.accelerator,
            "accelerator_count": count,
            "gpu_model": model,
            "image_digest": digest,
            "runner_version": __version__,
        }

    def _claim(self) -> Lease | None:
        env = self.environment()
        answer = with_retries(lambda: self.client.claim(env), on_retry=self._unavailable)
        if answer is None:
            return None
        job = answer.job
        self.log(f"agent: leased job {job.id} ({job.kind}, {job.runs_remaining} runs)")
        lease = Lease(job=job, lease_id=answer.lease_id, nonce=answer.nonce)
        folder = self.spool.lease_dir(lease)
        (folder / "train_gpt.py").write_text(answer.source, encoding="utf-8")
        baseline = folder / BASELINE_FILE
        if answer.baseline_source is not None:  # an A/B job: pairs against the record
            (baseline / "train_gpt.py").parent.mkdir(exist_ok=True)
            (baseline / "train_gpt.py").write_text(answer.baseline_source, encoding="utf-8")
        (folder / "job.json").write_text(json.dumps(job.to_json(), indent=2), encoding="utf-8")
        return lease

    def run_job(self, lease: Lease) -> None:
        with self._heartbeats(lease):
            failure = self._run_and_upload(lease)
        if lease.lost.is_set():
            self.log(f"agent: job {lease.job_id} left to its lease; the server will re-queue it")
            return
        try:
            with_retries(
                lambda: self.client.complete(
                    lease.job_id, lease.lease_id, failed=failure is not None, reason=failure
                ),
                on_retry=self._unavailable,
            )
            state = "failed: " + failure if failure else "finished"
            self.log(f"agent: job {lease.job_id} {state}")
        except ServerRefusedError as exc:
            self.log(f"agent: completing job {lease.job_id} refused: {exc.detail}")

    def _run_and_upload(self, lease: Lease) -> str | None:
        """Run the remaining runs one by one (an A/B job: pair by pair, the record's side
        first), uploading each bundle; the failure reason, if any."""
        folder = self.spool.lease_dir(lease)
        ab = (folder / BASELINE_FILE / "train_gpt.py").exists()
        remaining = lease.job.runs_remaining
        for _ in range(remaining // 2 if ab else remaining):
            if self.stopping.is_set() or lease.lost.is_set():
                return "agent stopped"
            try:
                made = self._run_one(lease, folder, ab=ab)
            except RunInterruptedError:
                # Stopped by a signal: leave the job to its lease, which re-queues it.
                self.stopping.set()
                lease.lost.set()
                return "agent stopped"
            except Exception as exc:
                return f"the runner failed: {exc}"
            if not made:
                return "the runner produced no bundle"
            for bundle in made:
                if not self.upload(lease.job_id, lease.lease_id, bundle):
                    return None if lease.lost.is_set() else "the server refused a bundle"
        return None

    def _run_one(self, lease: Lease, folder: Path, *, ab: bool = False) -> list[Path]:
        """One run (or one A/B pair); the bundles made, in the order they were made."""
        from runner.session import RunOptions, run_session  # torch-free, but heavy to import

        ref = lease.job.track
        out = folder / "out"
        before = set(out.glob("*.bundle.tar.gz")) if out.exists() else set()
        run_session(
            RunOptions(
                variant=folder / "train_gpt.py",
                track=get_track(ref.id, ref.version),
                runs=1,
                backend=self.opts.backend,
                out_dir=out,
                key_path=self.opts.key_path,
                data_dir=self.opts.data_dir,
                held_out=self.opts.held_out,
                quiet=self.opts.quiet,
                image=self.opts.image,
                # Attempt folders are bind-mounted into containers: keep them under the
                # agent's work dir, which a deployment shares with the engine's host.
                work_dir=self.spool.sessions,
                stop_requested=self.stopping,
                job={"id": lease.job_id, "nonce": lease.nonce},
                baseline=folder / BASELINE_FILE / "train_gpt.py" if ab else None,
            )
        )
        made = sorted(set(out.glob("*.bundle.tar.gz")) - before, key=lambda p: p.stat().st_mtime)
        targets = []
        for bundle in made:
            target = folder / bundle.name
            os.replace(bundle, target)
            targets.append(target)
        return targets

    # -- uploads ------------------------------------------------------------------------------
    def upload(self, job_id: int, lease_id: str, bundle: Path) -> bool:
        """Send a bundle until acknowledged; False when the server refuses it."""
        data = bundle.read_bytes()
        try:
            answer = with_retries(
                lambda: self.client.upload_job_run(job_id, lease_id, data),
                on_retry=self._unavailable,
            )
        except ServerRefusedError as exc:
            where = "abandoned" if exc.code in LEASE_GONE else "rejected"
            self.log(f"agent: upload of {bundle.name} refused ({exc.code}): {exc.detail}")
            self.spool.move(bundle, where)
            return False
        self.spool.move(bundle, "acked")
        self.log(f"agent: run {answer.run_id} stored ({'new' if answer.created else 'known'})")
        return True

    def resend_pending(self) -> None:
        """Bundles a previous life of this agent wrote but never saw acknowledged."""
        for job_id, lease_id, bundle in list(self.spool.pending()):
            self.log(f"agent: re-sending {bundle.name} for job {job_id}")
            self.upload(job_id, lease_id, bundle)

    # -- heartbeats -----------------------------------------------------------------------------
    @contextmanager
    def _heartbeats(self, lease: Lease) -> Iterator[None]:
        stop = threading.Event()
        thread = threading.Thread(target=self._beat, args=(lease, stop), daemon=True)
        thread.start()
        try:
            yield
        finally:
            stop.set()
            thread.join()

    def _beat(self, lease: Lease, stop: threading.Event) -> None:
        interval = heartbeat_interval_s(lease.job)
        while not stop.wait(interval):
            try:
                answer = self.client.heartbeat(lease.job_id, lease.lease_id)
                interval = heartbeat_interval_s(answer)
            except ServerRefusedError as exc:
                if exc.code in LEASE_GONE:
                    lease.lost.set()
                    return
                self.log(f"agent: heartbeat refused ({exc}); retrying")
            except ServerUnavailableError as exc:
                self.log(f"agent: heartbeat failed ({exc}); retrying")
                interval = min(interval, 5.0)

    def _unavailable(self, exc: ServerUnavailableError, delay_s: float) -> None:
        self.log(f"agent: server unavailable ({exc}); retrying in {delay_s:.1f} s")


def heartbeat_interval_s(job: Job) -> float:
    """A third of the time left on the lease, between 1 and 60 seconds."""
    if job.lease_expires_at is None:
        return 30.0
    left = job.lease_expires_at.timestamp() - time.time()  # aware: naive ones were read as UTC
    return max(1.0, min(60.0, left / 3))


def run_agent(opts: AgentOptions) -> int:
    agent = Agent(opts)

    def stop(signum: int, frame: FrameType | None) -> None:
        # Between runs this ends the loop; during a run the session's own handler interrupts
        # it (its containers or process tree removed) and the job is left to its lease.
        agent.log("agent: stopping")
        agent.stopping.set()

    previous = signal.signal(signal.SIGTERM, stop)
    try:
        return agent.serve()
    finally:
        signal.signal(signal.SIGTERM, previous)
