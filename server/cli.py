"""`speedrun serve`, `speedrun admin ...` and `speedrun records import`: the server's commands.

    speedrun serve [--db URL] [--host H] [--port P]
    speedrun admin runner-add NAME PUBKEY_FILE [--db URL]
    speedrun admin runner-revoke NAME [--db URL]
    speedrun admin token-create USER [--db URL]      (prints the token once)
    speedrun admin token-revoke USER|TOKEN_ID [--user] [--db URL]
    speedrun admin reverify RECORD_ID [--runs N] [--db URL]
    speedrun admin reverify-due [--top-k K] [--every-days D] [--runs N] [--db URL]
    speedrun records import PATH [--db URL]          (a modded-nanogpt checkout's history)

`--db` takes a SQLAlchemy URL or a file path; default $SPEEDRUN_DB, else ./var/speedrun.db.
Every command applies pending migrations first.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from server.config import Settings, load_settings
from server.db import Database, migrate
from server.problems import ServerError


def _reported(handler: Callable[[argparse.Namespace], int]) -> Callable[[argparse.Namespace], int]:
    """Server errors (a name taken, a record missing) print one line instead of a traceback."""

    def run(args: argparse.Namespace) -> int:
        try:
            return handler(args)
        except ServerError as exc:
            print(f"speedrun admin: error: {exc.detail}", file=sys.stderr)
            return 1

    return run


def _open(args: argparse.Namespace) -> tuple[Settings, Database]:
    settings = load_settings(db=args.db)
    db = Database(settings.db)
    migrate(db)
    return settings, db


def run_serve(args: argparse.Namespace) -> int:
    import uvicorn

    from server.app import create_app

    settings = load_settings(db=args.db, host=args.host, port=args.port)
    app = create_app(settings)
    print(
        f"speedrun server on http://{settings.host}:{settings.port}/ (db: {settings.db})",
        flush=True,
    )
    uvicorn.run(app, host=settings.host, port=settings.port, log_level=args.log_level)
    return 0


def run_runner_add(args: argparse.Namespace) -> int:
    from server.services.runners import add_runner
    from speedrun.signing import load_public_key

    key = load_public_key(args.pubkey_file)
    _, db = _open(args)
    with db.write() as session:
        runner = add_runner(session, args.name, key)
        print(f"runner {runner.name} registered (key id {runner.key_id})")
    return 0


def run_runner_revoke(args: argparse.Namespace) -> int:
    from server.services.runners import revoke_runner

    _, db = _open(args)
    with db.write() as session:
        runner = revoke_runner(session, args.name)
        print(f"runner {runner.name} revoked (key id {runner.key_id})")
    return 0


def run_token_create(args: argparse.Namespace) -> int:
    from server.services.tokens import active_token, create_token

    _, db = _open(args)
    with db.write() as session:
        _, token = create_token(session, args.user)
        found = active_token(session, token)
    assert found is not None
    print(token)
    print(f"token {found[1]} of {args.user} (revoke: token-revoke {found[1]})", file=sys.stderr)
    return 0


def run_token_revoke(args: argparse.Namespace) -> int:
    from server.models import utcnow
    from server.services.tokens import revoke_tokens

    _, db = _open(args)
    with db.write() as session:
        user, ids = revoke_tokens(session, args.target, utcnow(), as_user=args.user)
    listed = ", ".join(str(i) for i in ids)
    print(f"revoked {len(ids)} token{'s' if len(ids) > 1 else ''} of {user}: {listed}")
    return 0


def run_reverify(args: argparse.Namespace) -> int:
    from server.services.reverify.jobs import schedule_reverification

    _, db = _open(args)
    with db.write() as session:
        job = schedule_reverification(session, args.record_id, args.runs)
        print(f"job {job.id} queued: {job.runs_total} re-runs of record {args.record_id}")
    return 0


def run_reverify_due(args: argparse.Namespace) -> int:
    """The policy's periodic scan, once: re-run the top K records not checked for D days."""
    from server.models import utcnow
    from server.services.reverify.policy import schedule_due

    settings, db = _open(args)
    top_k = args.top_k if args.top_k is not None else settings.reverify_top_k
    days = args.every_days if args.every_days is not None else settings.reverify_every_days
    with db.write() as session:
        jobs = schedule_due(
            session,
            utcnow(),
            top_k=top_k,
            every_days=days,
            runs=args.runs or settings.reverify_runs,
        )
    print(f"{len(jobs)} re-verification jobs queued" + (f": {jobs}" if jobs else ""))
    return 0


def run_records_import(args: argparse.Namespace) -> int:
    """Import a modded-nanogpt checkout; exit 0 when it imported, even with files skipped."""
    from sqlalchemy.exc import SQLAlchemyError

    from server.services.history.plan import check_checkout, plan_import
    from server.services.history.write import write_plan

    root = Path(args.path)
    check_checkout(root)  # CheckoutInvalid: exit 2, before the database is touched
    try:
        _, db = _open(args)
    except (SQLAlchemyError, OSError, ValueError) as exc:
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        print(
            f"speedrun records import: error: cannot open the database: {reason}", file=sys.stderr
        )
        return 1
    try:
        summary = write_plan(db, plan_import(root))
    except SQLAlchemyError as exc:
        reason = str(exc).strip().splitlines()[0]
        print(
            f"speedrun records import: error: nothing was imported (rolled back): {reason}",
            file=sys.stderr,
        )
        return 1
    finally:
        db.dispose()
    print("\n".join(summary.lines()))
    return 0


def _db_option(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--db",
        default=None,
        help="SQLAlchemy URL or SQLite file (default: $SPEEDRUN_DB or ./var/speedrun.db)",
    )


def register(sub: Any) -> None:
    serve = sub.add_parser(
        "serve", help="run the leaderboard server (API at /api/v1, docs at /docs)"
    )
    _db_option(serve)
    serve.add_argument("--host", default=None, help="bind address (default 127.0.0.1)")
    serve.add_argument("--port", type=int, default=None, help="port (default 8000)")
    serve.add_argument(
        "--log-level", default="info", choices=["critical", "error", "warning", "info", "debug"]
    )
    serve.set_defaults(handler=run_serve)
    _register_admin(sub)

    records = sub.add_parser("records", help="the speedrun's record history")
    rcmds = records.add_subparsers(dest="records_command", metavar="ACTION", required=True)
    imp = rcmds.add_parser(
        "import",
        help="import a modded-nanogpt checkout (README tables + records/ logs) as history",
    )
    imp.add_argument("path", help="a checkout of github.com/KellerJordan/modded-nanogpt")
    _db_option(imp)
    imp.set_defaults(handler=run_records_import)


def _register_admin(sub: Any) -> None:
    admin = sub.add_parser("admin", help="administer the server's database")
    cmds = admin.add_subparsers(dest="admin_command", metavar="ACTION", required=True)
    p = cmds.add_parser("runner-add", help="register a runner's public key")
    p.add_argument("name")
    p.add_argument("pubkey_file")
    p.set_defaults(handler=_reported(run_runner_add))
    p2 = cmds.add_parser("runner-revoke", help="stop accepting a runner's signatures")
    p2.add_argument("name")
    p2.set_defaults(handler=_reported(run_runner_revoke))
    p3 = cmds.add_parser("token-create", help="create a submitter's API token (printed once)")
    p3.add_argument("user")
    p3.set_defaults(handler=_reported(run_token_create))
    p6 = cmds.add_parser(
        "token-revoke", help="revoke a token by id, or every token of a user (refused at once)"
    )
    p6.add_argument("target", metavar="USER|TOKEN_ID")
    p6.add_argument(
        "--user",
        action="store_true",
        help="the argument is a user name, even when it is all digits",
    )
    p6.set_defaults(handler=_reported(run_token_revoke))
    p4 = cmds.add_parser("reverify", help="queue re-runs of a record")
    p4.add_argument("record_id", type=int)
    p4.add_argument("--runs", type=int, default=None, help="default: the track's runs_required")
    p4.set_defaults(handler=_reported(run_reverify))
    p5 = cmds.add_parser("reverify-due", help="queue re-runs of the top records due a check")
    p5.add_argument("--top-k", type=int, default=None, help="default $SPEEDRUN_REVERIFY_TOP_K")
    p5.add_argument(
        "--every-days", type=float, default=None, help="default $SPEEDRUN_REVERIFY_EVERY_DAYS"
    )
    p5.add_argument("--runs", type=int, default=None, help="default: the track's runs_required")
    p5.set_defaults(handler=_reported(run_reverify_due))
    for parser in (p, p2, p3, p6, p4, p5):
        _db_option(parser)
