"""The `speedrun` command line: one argparse tree assembled from per-package command modules.

Each module in COMMAND_MODULES exposes `register(subparsers)`, adding its sub-commands with a
`handler(args) -> int` default. Errors derived from SpeedrunError print one line to stderr and
exit with the error's code. A reader that closes stdout early (`speedrun ... | head -n 1`) ends
the command quietly with exit 0, as Unix tools do; nothing else is caught.
"""

from __future__ import annotations

import argparse
import importlib
import os
import select
import sys
from collections.abc import Sequence

from speedrun import __version__
from speedrun.errors import SpeedrunError

COMMAND_MODULES = [
    "speedrun.commands.tracks",
    "speedrun.commands.data",
    "runner.cli",
    "runner.agent_cli",
    "server.cli",
    "web.publish.cli",
]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="speedrun",
        description="Reproducible benchmark runs and leaderboard for the NanoGPT speedrun.",
    )
    parser.add_argument("--version", action="version", version=f"speedrun {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(sub)
    return parser


def stdout_reader_gone() -> bool:
    """True when stdout is a pipe whose reading end is closed (poll reports an error on it)."""
    try:
        poller = select.poll()
        poller.register(sys.stdout.fileno(), select.POLLOUT)
        return any(ev & select.POLLERR for _, ev in poller.poll(0))
    except (OSError, ValueError, AttributeError):
        return False


def silence_stdout() -> None:
    """Point stdout at /dev/null so the interpreter's final flush cannot fail again."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    os.close(devnull)


def main(argv: Sequence[str] | None = None) -> int:
    try:
        code = run_command(argv)
        sys.stdout.flush()  # a closed pipe shows here, not in the interpreter's exit
    except BrokenPipeError:
        # Only our own stdout's reader going away is a normal end; a broken socket is not.
        if not stdout_reader_gone():
            raise
        silence_stdout()
        return 0
    return code


def run_command(argv: Sequence[str] | None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        code: int = args.handler(args)
    except SpeedrunError as exc:
        print(f"speedrun {args.command}: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print(f"speedrun {args.command}: interrupted", file=sys.stderr)
        return 130
    return code


if __name__ == "__main__":
    sys.exit(main())
