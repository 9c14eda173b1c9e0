"""Per-attempt and per-session directories on the host, and the data files derived for a run.

An attempt's workspace (a fresh temporary directory, removed afterwards):

    variant/<name>.py   a copy of the variant: what is hashed is exactly what runs
    ctl/config.json     the harness configuration (SPEEDRUN_CONFIG)
    ctl/events          the event FIFO (SPEEDRUN_EVENTS)
    ctl/sitecustomize.py  whole output lines from every rank (runner.stdio_site)
    data/               mounted at /speedrun/data, the train shards and dev tail bind-mounted
                        into it: 0700 and the runner's until the variant's first warmup_end,
                        so no warmup can read training data (the container's user cannot
                        even traverse it); `unlock_data` opens it
    out/                the one writable directory of the training process (its cwd)
    eval/model/         the exported model, copied for the evaluator
    eval/out/           the evaluator's result

A session (all attempts of one `speedrun run`) derives two files from the validation shard
once: `val_slice.bin`, the scored tokens plus the one target past them, which only the
evaluator sees, and `dev_000000.bin`, the tail past that, for a variant's own val lines.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from runner import stdio_site
from speedrun.data import shards
from speedrun.errors import DataError
from speedrun.tracks import Track

SANDBOX_UID = 1000  # the non-root user of the runner images (docker/*/Containerfile)
SANDBOX_GID = 1000
DEV_FILE = "dev_000000.bin"
SLICE_FILE = "val_slice.bin"


@dataclass(frozen=True)
class Workspace:
    root: Path
    variant: Path
    ctl: Path
    out: Path
    eval_model: Path
    eval_out: Path
    data: Path

    @property
    def config(self) -> Path:
        return self.ctl / "config.json"

    @property
    def fifo(self) -> Path:
        return self.ctl / "events"

    @classmethod
    def create(cls, variant_source: bytes, variant_name: str, *, parent: Path | None) -> Workspace:
        root = Path(tempfile.mkdtemp(prefix="speedrun-attempt-", dir=parent))
        root.chmod(0o755)
        ws = cls(
            root=root,
            variant=root / "variant" / variant_name,
            ctl=root / "ctl",
            out=root / "out",
            eval_model=root / "eval" / "model",
            eval_out=root / "eval" / "out",
            data=root / "data",
        )
        for folder in (ws.variant.parent, ws.ctl, ws.eval_model):
            folder.mkdir(parents=True, mode=0o755)
        ws.data.mkdir(mode=0o700)
        ws.data.chmod(0o700)  # whatever the umask: locked until warmup_end
        ws.variant.write_bytes(variant_source)
        stdio_site.install(ws.ctl)  # first on the variant's PYTHONPATH (runner.attempt_specs)
        ws.variant.chmod(0o444)
        os.mkfifo(ws.fifo, 0o600)
        for writable in (ws.out, ws.eval_out):
            writable.mkdir(parents=True)
            _give_to_sandbox(writable)
        _give_to_sandbox(ws.fifo)
        return ws

    def mount_point(self, name: str) -> Path:
        """An empty file in the locked data folder for a shard to be bind-mounted over."""
        point = self.data / name
        point.touch(mode=0o444)
        return point

    def unlock_data(self) -> None:
        self.data.chmod(0o755)

    def remove(self) -> None:
        shutil.rmtree(self.root, ignore_errors=True)


def _give_to_sandbox(path: Path) -> None:
    """Make `path` writable by the sandbox user, and by nobody else where we can. The FIFO
    is write-only for it: a variant cannot read (and so swallow or reorder) the channel."""
    if os.geteuid() == 0:
        os.chown(path, SANDBOX_UID, SANDBOX_GID)
        path.chmod(0o700 if path.is_dir() else 0o200)
    else:  # rootless: the container's uid maps elsewhere; fall back to open modes
        path.chmod(0o777 if path.is_dir() else 0o622)


@dataclass(frozen=True)
class DerivedData:
    slice_file: Path  # first val_tokens + 1 tokens of the val shard (evaluator only)
    dev_file: Path | None  # the rest of the val shard (visible to the variant)


def derive_val_files(track: Track, val_shard: Path, folder: Path) -> DerivedData:
    """Split the validation shard into the scored slice and the dev tail."""
    tokens = shards.read_shard(val_shard)
    need = track.dataset.val_tokens + 1
    if len(tokens) < need:
        raise DataError(
            f"{val_shard}: {len(tokens)} tokens, the track scores {track.dataset.val_tokens} "
            "(+1 target)"
        )
    folder.mkdir(parents=True, exist_ok=True)
    slice_file = folder / SLICE_FILE
    shards.write_shard(slice_file, tokens[:need])
    dev_file: Path | None = None
    if len(tokens) > need:
        dev_file = folder / DEV_FILE
        shards.write_shard(dev_file, tokens[need:])
        dev_file.chmod(0o644)
    slice_file.chmod(0o644)
    return DerivedData(slice_file=slice_file, dev_file=dev_file)
