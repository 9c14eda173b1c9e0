"""The `speedrun` command line: one argparse tree assembled from per-package command modules.

Each module in COMMAND_MODULES exposes `register(subparsers)`, adding its sub-commands with a
`handler(args) -> int` default. Errors derived from SpeedrunError print one line to stderr and
exit with the error's code; nothing else is caught.
"""

from __future__ import annotations

import argparse
import importlib
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


def main(argv: Sequence[str] | None = None) -> int:
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
