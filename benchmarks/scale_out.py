"""Scale out: N agents on one machine share one server's queue on PostgreSQL.

Starts a throwaway PostgreSQL server (or uses --db), a `speedrun serve` on it, N agents (local
backend by default, docker with --backend docker), submits N different variants on the track
(cpu-tiny by default) and reports which agent ran which job, each job's wall time, and the
whole batch's wall time beside the sum of the jobs' times (the parallelism the queue gave).

    python benchmarks/scale_out.py [--agents 3] [--track cpu-tiny] [--backend local]
"""

from __future__ import annotations

import argparse
import signal
import sys
import tempfile
import time
from contextlib import ExitStack
from datetime import datetime
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))

from support import postgres  # noqa: E402
from support.loop import (  # noqa: E402
    job_of,
    kill_group,
    kill_matching,
    register_agent_key,
    start_agent,
    start_server,
    submit,
    wait_until,
)


def variants(n: int, folder: Path, names: list[str]) -> list[Path]:
    """n variants from records/<name>/train_gpt.py, cycling through `names`; copies beyond the
    first of each get a comment line, so each job is its own attempt."""
    base = [REPO / "records" / name / "train_gpt.py" for name in names]
    out = []
    for i in range(n):
        src = base[i % len(base)]
        if i < len(base):
            out.append(src)
            continue
        copy = folder / f"variant_{i}.py"
        copy.write_text(src.read_text() + f"\n# copy {i}: a distinct variant for the queue\n")
        out.append(copy)
    return out


def run_outcomes(server, job: dict) -> str:
    """Each run of the job as the server holds it: a job can finish with failed runs."""
    parts = []
    for run_id in job["runs_done"]:
        run = server.api(f"/runs/{run_id}")
        status = run.get("status") or run.get("manifest", {}).get("exit", {}).get("status")
        t, loss = run.get("time_ms"), run.get("val_loss")
        parts.append(
            f"{status} {t / 1000:.0f} s {loss:.3f}"
            if t and loss
            else f"{status} ({run.get('exit_reason')})"
        )
    return "; ".join(parts) or "-"


def _seconds(job: dict) -> float:
    start = datetime.fromisoformat(job["leased_at"].replace("Z", "+00:00"))
    end = datetime.fromisoformat(job["finished_at"].replace("Z", "+00:00"))
    return (end - start).total_seconds()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--agents", type=int, default=3)
    ap.add_argument("--track", default="cpu-tiny")
    ap.add_argument("--backend", default="local", choices=["local", "docker"])
    ap.add_argument("--db", default=None, help="a PostgreSQL URL (default: a throwaway server)")
    ap.add_argument(
        "--variants",
        nargs="+",
        default=["seed-recipe", "llmc-baseline"],
        help="records/ folders to submit, cycled (the baseline takes ~11 min a run on cpu-tiny)",
    )
    args = ap.parse_args()
    missing = [v for v in args.variants if not (REPO / "records" / v / "train_gpt.py").is_file()]
    if missing:
        ap.error(f"no records/<name>/train_gpt.py for: {', '.join(missing)}")
    with ExitStack() as stack:
        folder = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="scale-out-")))
        db = args.db
        if db is None:
            url = stack.enter_context(postgres.postgres_server())
            from sqlalchemy import create_engine, text

            engine = create_engine(f"{url}/postgres", isolation_level="AUTOCOMMIT")
            with engine.connect() as conn:
                conn.execute(text("CREATE DATABASE scaleout"))
            engine.dispose()
            db = f"{url}/scaleout"
        server = start_server(db, folder / "server", extra_record_backends='["local"]')
        stack.callback(server.kill)
        stack.callback(kill_matching, str(folder))
        token = server.admin("token-create", "bench").strip().splitlines()[-1]
        subs = [
            submit(server, v, args.track, token, f"scale-out {i}")
            for i, v in enumerate(variants(args.agents, folder, args.variants))
        ]
        started = time.monotonic()
        agents = []
        for i in range(args.agents):
            key = register_agent_key(server, f"agent-{i}")
            agents.append(
                start_agent(server, key, folder / f"agent-{i}", "--backend", args.backend)
            )
        for proc in agents:
            stack.callback(kill_group, proc, signal.SIGTERM)
        jobs = wait_until(
            lambda: (
                (js := [job_of(server, s) for s in subs])
                and all(j["state"] in ("FINISHED", "FAILED") for j in js)
                and js
            ),
            6 * 3600,
            "every job to finish",
            every_s=5,
        )
        wall = time.monotonic() - started
        outcomes = {job["id"]: run_outcomes(server, job) for job in jobs}
    print(
        f"{args.agents} agents, {len(jobs)} jobs on {args.track} ({args.backend} backend), PostgreSQL"
    )
    print("| job | agent | state | runs | wall (s) | each run: status, time, val loss |")
    print("|---|---|---|---|---|---|")
    for job in jobs:
        print(
            f"| {job['id']} | {job['runner']} | {job['state']} | {len(job['runs_done'])} "
            f"| {_seconds(job):.0f} | {outcomes[job['id']]} |"
        )
    total = sum(_seconds(j) for j in jobs)
    print(
        f"batch wall time {wall:.0f} s; sum of job times {total:.0f} s; ratio {total / wall:.2f}x"
    )


if __name__ == "__main__":
    main()
