"""The snapshot's folder: checked before anything is written, locked while a build writes,
and holding the publisher's own dot-files (never served: the nginx configuration refuses
dot-names):

    .speedrun-snapshot     marks a folder this command made (only such a folder is pruned)
    .publish.lock          held (flock) by the one build writing at a time
    .publish-state.json    what the pages were built from (`server.services.opendata.
                           site_state`) and the build's signature (code and settings)

`--out` must be a folder that is empty, missing (its parent existing), or marked: the
publisher deletes files it no longer produces, so it never works in a folder of someone
else's files.
"""

from __future__ import annotations

import fcntl
import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from server.services.opendata.site_state import SiteState
from speedrun.errors import UsageError

MARKER = ".speedrun-snapshot"
LOCK = ".publish.lock"
STATE = ".publish-state.json"


class PublishError(UsageError):
    """A snapshot that cannot be built: bad --out, bad --db, a build already running."""


def prepare(out: Path, label: str = "--out") -> Path:
    """`out`, checked and marked as a snapshot folder (created if its parent exists);
    `label` names where the folder was given, for the error messages."""
    if out.exists() and not out.is_dir():
        raise PublishError(f"{label} {out}: not a folder")
    if not out.exists():
        if not out.parent.is_dir():
            raise PublishError(f"{label} {out}: its parent folder {out.parent} does not exist")
        try:
            out.mkdir()
        except OSError as exc:
            raise PublishError(f"{label} {out}: cannot create it ({exc.strerror})") from exc
    if not os.access(out, os.W_OK | os.X_OK):
        raise PublishError(f"{label} {out}: not writable")
    marker = out / MARKER
    if not marker.exists():
        if any(out.iterdir()):
            raise PublishError(
                f"{label} {out}: the folder holds other files and no snapshot ({MARKER}); "
                "give an empty or new folder"
            )
        marker.write_text("A static snapshot written by `speedrun publish`.\n")
    return out


@contextmanager
def locked(out: Path) -> Iterator[None]:
    """Hold the folder's lock for one build; a second build at once is refused."""
    with open(out / LOCK, "a+b") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as exc:
            raise PublishError(f"{out}: another publish is writing there") from exc
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


@dataclass
class Saved:
    signature: str
    state: SiteState


def load_state(out: Path) -> Saved | None:
    """The last build's state, or None (no build yet, or a file this code cannot read)."""
    try:
        data: dict[str, Any] = json.loads((out / STATE).read_text())
        return Saved(str(data["signature"]), SiteState.from_json(data["state"]))
    except (OSError, ValueError, KeyError, TypeError):
        return None


def save_state(out: Path, saved: Saved) -> None:
    tmp = out / f"{STATE}.{os.getpid()}.tmp"
    tmp.write_text(json.dumps({"signature": saved.signature, "state": saved.state.to_json()}))
    os.replace(tmp, out / STATE)
