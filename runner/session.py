"""A session: N attempts of one variant, or an interleaved A/B of two, and their summary.

Everything that can be refused is checked before anything runs (variant file, limits, key,
engine and image, hardware class, data); then the software is probed once where the variant
will run, and attempts follow, each with its own recorded seed (base + index; the two runs
of an A/B pair share a seed). Every attempt's bundle is kept, failed ones too. The summary
(`summary.json`, written atomically) has mean/std of time and loss over completed attempts,
the one-sided t-test p-value for mean loss < target and the track's verdict; an A/B session
adds the paired speedup with its confidence interval and Welch's test.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import signal
import tempfile
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import Any

from runner.attempt import AttemptOutcome, AttemptRequest, SessionContext, run_attempt
from runner.backends import Backend, ProcessSpec
from runner.errors import RunInterruptedError
from runner.fingerprint import host_hardware, nvidia_smi_gpus
from runner.keys import load_signing_key
from runner.progress import Progress
from runner.summary import ab_summary, runs_summary
from runner.trackdata import prepare_track_data
from speedrun import stats
from speedrun.data.heldout import HeldOutSecret
from speedrun.errors import UsageError
from speedrun.tracks import Track

# A record's script is ~50-100 KB; more room would only carry pretrained numbers.
MAX_VARIANT_BYTES = 1024 * 1024
DEFAULT_CPU_IMAGE = "localhost/speedrun-cpu:latest"
DEFAULT_CUDA_IMAGE = "localhost/speedrun-cuda:latest"


@dataclass(frozen=True)
class RunOptions:
    variant: Path
    track: Track
    runs: int = 1
    backend: str = "docker"
    out_dir: Path = Path("runs")
    time_limit_s: float | None = None
    key_path: Path | None = None
    baseline: Path | None = None
    data_dir: Path = Path("data")
    quiet: bool = False
    image: str | None = None
    seed: int | None = None
    work_dir: Path | None = None
    train_shards: int | None = None  # hub tracks: use only the first N train shards
    # Set by an agent's SIGTERM handler that ran before this session installed its own: the
    # session stops at once instead of running a whole attempt nobody waits for.
    stop_requested: threading.Event | None = None
    # The server job these runs belong to ({"id", "nonce"}), signed into every bundle so the
    # server can tell a job's runs from unsolicited uploads.
    job: dict[str, Any] | None = None
    # The deployment's held-out secret (speedrun.data.heldout): without it, a held-out track runs
    # on public data and its runs never count toward records.
    held_out: HeldOutSecret | None = None


@dataclass(frozen=True)
class Variant:
    name: str
    source: bytes


def read_variant(path: Path) -> Variant:
    if not path.exists():
        raise UsageError(f"{path}: no such variant file")
    if not path.is_file():
        raise UsageError(f"{path}: not a regular file")
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise UsageError(f"{path}: cannot read ({exc.strerror})") from None
    if len(data) > MAX_VARIANT_BYTES:
        raise UsageError(f"{path}: {len(data)} bytes; a variant is at most {MAX_VARIANT_BYTES}")
    name = path.name if path.name.endswith(".py") else path.name + ".py"
    if not name.replace(".", "").replace("_", "").replace("-", "").isalnum():
        name = "train_gpt.py"
    return Variant(name=name, source=data)


def check_options(opts: RunOptions) -> float:
    """Refuse bad input before anything runs; return the effective wall-clock limit."""
    if opts.runs < 1:
        raise UsageError(f"--runs must be at least 1, got {opts.runs}")
    if opts.baseline is not None and opts.runs < 2 and opts.job is None:
        # (an agent runs a job's pairs one at a time: the server judges them together)
        raise UsageError("an A/B session needs --runs >= 2 (pairs)")
    if opts.backend not in ("docker", "local"):
        raise UsageError(f"unknown backend {opts.backend!r} (docker or local)")
    if not opts.track.accepts_runs:
        why = "retired (its rules were too weak)" if opts.track.retired else "imported history"
        raise UsageError(f"{opts.track.key} accepts no runs: {why}; run the latest version")
    limit = float(opts.track.limits.wall_clock_s)
    if opts.time_limit_s is not None:
        if not 0 < opts.time_limit_s <= limit:
            raise UsageError(
                f"--time-limit must be in (0, {limit:g}] s: it may only lower the track's limit"
            )
        limit = float(opts.time_limit_s)
    if opts.train_shards is not None and opts.train_shards < 1:
        raise UsageError(f"--train-shards must be at least 1, got {opts.train_shards}")
    if opts.out_dir.exists() and not opts.out_dir.is_dir():
        raise UsageError(f"--out {opts.out_dir}: exists and is not a directory")
    existing = next((p for p in (opts.out_dir, *opts.out_dir.parents) if p.exists()), None)
    if existing is not None and not os.access(existing, os.W_OK | os.X_OK):
        raise UsageError(f"--out {opts.out_dir}: {existing} is not writable")
    return limit


def check_hardware(track: Track) -> None:
    if track.hardware.accelerator != "cuda":
        return
    gpus = nvidia_smi_gpus()
    if len(gpus) < track.hardware.count:
        raise UsageError(f"{track.key} needs {track.hardware.count} CUDA GPU(s); found {len(gpus)}")
    pattern = track.hardware.gpu_model_pattern
    if pattern and not all(pattern in str(g["name"]) for g in gpus[: track.hardware.count]):
        raise UsageError(f"{track.key} needs {pattern} GPUs; found {gpus[0]['name']}")


def make_backend(opts: RunOptions) -> Backend:
    if opts.backend == "local":
        from runner.backends.local import LocalBackend

        return LocalBackend()
    from runner.backends.docker import DockerBackend

    default = DEFAULT_CUDA_IMAGE if opts.track.hardware.accelerator == "cuda" else DEFAULT_CPU_IMAGE
    return DockerBackend(opts.image or os.environ.get("SPEEDRUN_IMAGE") or default)


_PROBED: dict[str, dict[str, Any]] = {}  # per image digest / interpreter, for this process


def probe_software(backend: Backend, track: Track) -> dict[str, Any]:
    """Versions as seen where the variant runs: probed once per interpreter in a process,
    and once per image ever (an image id is a content digest: what it holds cannot change),
    cached in ~/.cache/speedrun/probes."""
    description = backend.describe()
    key = json.dumps(description, sort_keys=True)
    digest = str(description.get("digest", ""))
    cached = _probe_cache_file(digest) if digest.startswith("sha256:") else None
    if key not in _PROBED and cached is not None and cached.exists():
        with contextlib.suppress(OSError, ValueError):
            _PROBED[key] = json.loads(cached.read_text())
    if key not in _PROBED:
        found = _probe(backend, track)
        if "error" in found:
            return found
        _PROBED[key] = found
        if cached is not None:
            with contextlib.suppress(OSError):
                cached.parent.mkdir(parents=True, exist_ok=True)
                tmp = cached.with_suffix(f".{os.getpid()}.partial")
                tmp.write_text(json.dumps(found, sort_keys=True))
                os.replace(tmp, cached)
    return dict(_PROBED[key])


def _probe_cache_file(digest: str) -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "speedrun" / "probes" / f"{digest.removeprefix('sha256:')}.json"


def _probe(backend: Backend, track: Track) -> dict[str, Any]:
    spec = ProcessSpec(
        argv=[backend.python, "-m", "runner.probe"],
        env={"HOME": "/tmp"},
        cwd="/tmp",
        mounts=[],
        time_limit_s=120,
        memory_bytes=track.limits.memory_bytes,
        pids=track.limits.pids,
        role="probe",
    )
    result = backend.run(spec)
    for line in reversed(result.output.strip().splitlines()):
        try:
            data = json.loads(line)
        except ValueError:
            continue
        if isinstance(data, dict):
            return data
    return {"error": f"software probe failed (exit {result.exit_code})"}


@contextmanager
def terminate_as_interrupt(stop_requested: threading.Event | None = None) -> Iterator[None]:
    """SIGTERM raises RunInterruptedError in the main thread, so every `finally` cleans up.

    A SIGTERM that reached the caller's handler before this one was installed shows as
    `stop_requested`, and interrupts too."""

    def handler(signum: int, _frame: FrameType | None) -> None:
        raise RunInterruptedError(signal.Signals(signum).name)

    previous = signal.signal(signal.SIGTERM, handler)
    try:
        if stop_requested is not None and stop_requested.is_set():
            raise RunInterruptedError("SIGTERM")
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def run_session(opts: RunOptions) -> dict[str, Any]:
    limit_s = check_options(opts)
    candidate = read_variant(opts.variant)
    baseline = read_variant(opts.baseline) if opts.baseline else None
    key, _ = load_signing_key(opts.key_path)
    check_hardware(opts.track)
    progress = Progress(quiet=opts.quiet)
    with terminate_as_interrupt(opts.stop_requested):
        backend = make_backend(opts)
        try:
            with tempfile.TemporaryDirectory(prefix="speedrun-session-", dir=opts.work_dir) as tmp:
                progress.note("preparing data")
                data = prepare_track_data(
                    opts.track,
                    opts.data_dir,
                    Path(tmp),
                    progress=not opts.quiet,
                    train_shards=opts.train_shards,
                    secret=opts.held_out,
                )
                progress.note("probing software")
                ctx = SessionContext(
                    track=opts.track,
                    backend=backend,
                    key=key,
                    data=data,
                    software=probe_software(backend, opts.track),
                    hardware={
                        "accelerator": opts.track.hardware.accelerator,
                        **host_hardware(opts.track.hardware.accelerator),
                    },
                    out_dir=opts.out_dir,
                    time_limit_s=limit_s,
                    progress=progress,
                    group_id=uuid.uuid4().hex,
                    work_parent=opts.work_dir,
                    job=opts.job,
                )
                base_seed = opts.seed if opts.seed is not None else secrets.randbelow(2**31)
                if baseline is None:
                    summary = _run_plain(ctx, candidate, opts.runs, base_seed)
                else:
                    summary = _run_ab(ctx, baseline, candidate, opts.runs, base_seed)
        finally:
            backend.close()
    write_summary(opts.out_dir, ctx.group_id, summary)
    return summary


def _run_plain(ctx: SessionContext, variant: Variant, runs: int, base_seed: int) -> dict[str, Any]:
    outcomes: list[AttemptOutcome] = []
    for i in range(runs):
        req = AttemptRequest(
            variant_name=variant.name,
            source=variant.source,
            seed=base_seed + i,
            index=i,
            label=f"[{i + 1}/{runs} seed {base_seed + i}]",
            bundle_name=f"{ctx.track.id}-{i:03d}-{ctx.group_id[:8]}.bundle.tar.gz",
        )
        outcomes.append(run_attempt(ctx, req))
    return runs_summary(ctx.track, ctx.backend.name, ctx.group_id, variant.name, outcomes)


def _run_ab(
    ctx: SessionContext, baseline: Variant, candidate: Variant, pairs: int, base_seed: int
) -> dict[str, Any]:
    session_id = ctx.group_id
    import hashlib

    shas = {
        "baseline_sha256": hashlib.sha256(baseline.source).hexdigest(),
        "candidate_sha256": hashlib.sha256(candidate.source).hexdigest(),
    }
    results: dict[str, list[AttemptOutcome]] = {"baseline": [], "candidate": []}
    for pair in range(pairs):
        for role, variant in (("baseline", baseline), ("candidate", candidate)):
            seed = base_seed + pair
            req = AttemptRequest(
                variant_name=variant.name,
                source=variant.source,
                seed=seed,
                index=2 * pair + (role == "candidate"),
                label=f"[pair {pair + 1}/{pairs} {role} seed {seed}]",
                bundle_name=f"{ctx.track.id}-ab{pair:03d}-{role}-{session_id[:8]}.bundle.tar.gz",
                ab={"session_id": session_id, "role": role, "pair_index": pair, **shas},
            )
            results[role].append(run_attempt(ctx, req))
    return ab_summary(ctx.track, ctx.backend.name, session_id, results, stats.paired_speedup)


def write_summary(out_dir: Path, group_id: str, summary: dict[str, Any]) -> Path:
    out_dir.mkdir(parents=True, exist_ok=True)
    final = out_dir / f"summary-{group_id[:8]}.json"
    tmp = out_dir / f".{final.name}.partial"
    tmp.write_text(json.dumps(summary, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    os.replace(tmp, final)
    summary["summary_path"] = str(final)
    return final
