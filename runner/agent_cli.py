"""`speedrun agent` and `speedrun submit`: the runner side's conversation with a server.

speedrun agent --server URL [--key FILE] [--backend docker|local] [--once] [--max-jobs N]
speedrun submit BUNDLE... --server URL          upload signed bundles (exit 1 if one is refused)
speedrun submit VARIANT --track T --server URL --token TOKEN [--name N] [--description D] [--wait]
    queue a record attempt; prints its id and page; --wait follows it until it ends
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from functools import partial
from pathlib import Path
from typing import Any

from runner.client import Attempt, ServerClient, ServerRefusedError, with_retries
from speedrun.data.fetch import default_data_dir
from speedrun.errors import UsageError
from speedrun.names import MAX_NAME_CHARS, clean_name

GZIP_MAGIC = b"\x1f\x8b"
TOKEN_ENV = "SPEEDRUN_TOKEN"


def register(sub: Any) -> None:
    a = sub.add_parser("agent", help="pull jobs from a server and run them")
    a.add_argument("--server", required=True, help="e.g. http://127.0.0.1:8000")
    a.add_argument("--key", type=Path, default=None, help="runner key (see `keys init`)")
    a.add_argument("--backend", default="docker", choices=["docker", "local"])
    a.add_argument("--image", default=None, help="container image (docker backend)")
    a.add_argument(
        "--accelerator", default="cpu", choices=["cpu", "cuda"], help="which tracks it serves"
    )
    a.add_argument("--data-dir", type=Path, default=None, help="default $SPEEDRUN_DATA_DIR")
    a.add_argument(
        "--held-out", type=Path, default=None, help="held-out secret (default $SPEEDRUN_HELD_OUT)"
    )
    a.add_argument("--work-dir", type=Path, default=Path("var/agent"), help="bundle spool")
    a.add_argument("--poll", type=float, default=5.0, help="seconds between empty claims")
    a.add_argument("--once", action="store_true", help="exit when the queue is empty")
    a.add_argument("--max-jobs", type=int, default=None)
    a.add_argument("--progress", action="store_true", help="live progress of each run")
    a.set_defaults(handler=run_agent_command)
    s = sub.add_parser("submit", help="upload bundles, or submit a variant as a record attempt")
    s.add_argument("paths", nargs="+", type=Path, help="bundle files, or one train_gpt.py")
    s.add_argument("--server", required=True)
    s.add_argument("--track", default=None, help="track of a variant submission")
    s.add_argument("--token", default=None, help=f"API token (default ${TOKEN_ENV})")
    s.add_argument("--description", default="", help="what the variant changes")
    s.add_argument(
        "--name",
        default=None,
        help=f'a human name the leaderboard shows ("Muon improvements"; <= {MAX_NAME_CHARS} chars)',
    )
    s.add_argument("--wait", action="store_true", help="follow the submission until it ends")
    s.add_argument("--timeout", type=float, default=None, help="give up waiting after S seconds")
    s.set_defaults(handler=run_submit_command)


def run_agent_command(args: argparse.Namespace) -> int:
    from runner.agent import AgentOptions, run_agent
    from speedrun.data.heldout import secret_from_env

    if args.max_jobs is not None and args.max_jobs < 1:
        raise UsageError("--max-jobs must be at least 1")
    return run_agent(
        AgentOptions(
            server=args.server,
            key_path=args.key,
            backend=args.backend,
            data_dir=args.data_dir or default_data_dir(),
            held_out=secret_from_env(args.held_out),
            work_dir=args.work_dir,
            image=args.image,
            accelerator=args.accelerator,
            poll_s=args.poll,
            once=args.once,
            max_jobs=args.max_jobs,
            quiet=not args.progress,
        )
    )


def _is_bundle(path: Path) -> bool:
    with open(path, "rb") as f:
        return f.read(2) == GZIP_MAGIC


def run_submit_command(args: argparse.Namespace) -> int:
    for path in args.paths:
        if not path.is_file():
            raise UsageError(f"{path}: no such file")
    kinds = {_is_bundle(p) for p in args.paths}
    if kinds == {True}:
        return upload_bundles(args)
    if len(args.paths) != 1 or kinds != {False}:
        raise UsageError("give either bundle files, or exactly one variant (train_gpt.py)")
    return submit_variant(args)


def upload_bundles(args: argparse.Namespace) -> int:
    client = ServerClient(args.server)
    refused = 0
    for path in args.paths:
        data = path.read_bytes()
        try:
            answer = with_retries(partial(client.upload_bundle, data), deadline_s=60)
        except ServerRefusedError as exc:
            refused += 1
            print(f"refused  {path}: {exc.code}: {exc.detail}", file=sys.stderr)
            continue
        state = "stored" if answer.created else "known"
        print(f"{state:8s} {path} -> run {answer.run_id}")
    return 1 if refused else 0


def submit_variant(args: argparse.Namespace) -> int:
    token = args.token or os.environ.get(TOKEN_ENV)
    if not args.track:
        raise UsageError("a variant submission needs --track")
    if not token:
        raise UsageError(f"a variant submission needs --token (or ${TOKEN_ENV})")
    try:
        name = None if args.name is None else clean_name(args.name)
    except ValueError as exc:
        raise UsageError(f"--name: {exc}") from None
    try:
        source = args.paths[0].read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise UsageError(f"{args.paths[0]}: not UTF-8 text (a variant is a Python file)") from None
    client = ServerClient(args.server, token=token)
    try:
        answer = client.submit(args.track, source, args.description, name)
    except ServerRefusedError as exc:
        print(f"speedrun submit: refused: {exc.code}: {exc.detail}", file=sys.stderr)
        return 1
    sid = answer.id
    print(f"submission {sid}: {args.server.rstrip('/')}/submissions/{sid}")
    print(f"  json: {args.server.rstrip('/')}/api/v1/submissions/{sid}")
    if not args.wait:
        return 0
    return follow_submission(client, sid, args.timeout)


def follow_submission(client: ServerClient, sid: int, timeout_s: float | None) -> int:
    """Poll until the submission's job ends, printing each change of state."""
    started, last = time.monotonic(), ""
    while True:
        sub = with_retries(lambda: client.submission(sid))
        job = sub.job
        line = f"  job {job.id}: {job.state}, {len(job.runs_done)}/{job.runs_total} runs"
        if line != last:
            print(line, flush=True)
            last = line
        if job.state in ("FINISHED", "FAILED"):
            break
        if timeout_s is not None and time.monotonic() - started > timeout_s:
            print("  still running; stopped waiting", file=sys.stderr)
            return 1
        time.sleep(2.0)
    attempt = client.attempt(sub.attempt_id)
    print(f"  attempt {attempt.id}: {describe_attempt(attempt)}")
    return 0 if job.state == "FINISHED" else 1


def describe_attempt(attempt: Attempt) -> str:
    stats = attempt.stats
    verdict = f"record {attempt.record_id}" if attempt.record_id else "not a record"
    parts = [f"{stats.n_counted}/{stats.n_runs} runs counted"]
    for name, unit, summary in (("time_ms", "ms", stats.time_ms), ("val_loss", "", stats.val_loss)):
        if summary is not None:
            parts.append(f"{name} {summary.mean:.4g}{unit} ± {summary.std:.2g}")
    if stats.p_value is not None:
        parts.append(f"p={stats.p_value:.3g}")
    reason = stats.reason
    return f"{verdict} ({', '.join(parts)})" + (f": {reason}" if reason else "")
