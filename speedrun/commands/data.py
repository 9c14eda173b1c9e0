"""`speedrun data fetch --track T [--data-dir DIR] [--train-shards N]`."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from speedrun.data.fetch import dataset_folder, default_data_dir, fetch_track_data
from speedrun.data.heldout import load_secret
from speedrun.errors import UsageError
from speedrun.tracks import get_track


def register(sub: Any) -> None:
    p = sub.add_parser("data", help="get, build or verify a track's data")
    data_sub = p.add_subparsers(dest="data_command", metavar="ACTION", required=True)
    f = data_sub.add_parser("fetch", help="download (hub) or build (synthetic) and verify")
    f.add_argument("--track", required=True, help="track id, e.g. cpu-tiny")
    f.add_argument(
        "--data-dir", type=Path, default=None, help="default: $SPEEDRUN_DATA_DIR or ./data"
    )
    f.add_argument("--train-shards", type=int, default=None, help="download only N train shards")
    f.add_argument(
        "--held-out", type=Path, default=None, help="build from this held-out secret instead"
    )
    f.add_argument("--quiet", action="store_true", help="no progress bars")
    f.set_defaults(handler=run_fetch)


def run_fetch(args: argparse.Namespace) -> int:
    track = get_track(args.track)
    if args.train_shards is not None and args.train_shards < 0:
        raise UsageError("--train-shards must be >= 0")
    data_dir = args.data_dir or default_data_dir()
    secret = load_secret(args.held_out) if args.held_out else None
    fetched = fetch_track_data(
        track, data_dir, train_shards=args.train_shards, progress=not args.quiet, secret=secret
    )
    for f in fetched:
        print(f"{f.action:10s} {f.sha256}  {f.path}")
    print(f"{len(fetched)} files ready in {dataset_folder(track, data_dir, secret)}")
    return 0
