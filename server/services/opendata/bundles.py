"""The signed bundles as files, copied out of the blob store, with their index.

`export_bundles(session, out)` writes `out/RUN_ID.tar.gz` for every run that has a bundle
(one blob in memory at a time; a file already there with the blob's size is kept, since a
bundle never changes once stored); `index_json(entries)` is their index (`index.json` beside
them): one entry per bundle, in the order the runs were stored:

    {"count": N, "bundles": [{"run_id", "sha256", "size_bytes", "path"}, ...]}

`path` is relative to `out`. Check a bundle with `speedrun verify RUN_ID.tar.gz`.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import asdict, dataclass
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from server.models import Blob, Run

# Run ids are 32 hex digits (the manifest schema); anything else never becomes a file name.
SAFE_RUN_ID = re.compile(r"^[0-9A-Za-z_-]{1,64}$")
INDEX = "index.json"


@dataclass(frozen=True)
class BundleEntry:
    run_id: str
    sha256: str
    size_bytes: int
    path: str


def bundle_entries(session: Session) -> list[BundleEntry]:
    """Every stored bundle, by run, in the order the runs were stored."""
    query = (
        select(Run.run_id, Blob.sha256, Blob.size_bytes)
        .join(Blob, Blob.sha256 == Run.bundle_sha256)
        .order_by(Run.id)
    )
    return [
        BundleEntry(run_id, sha, size, f"{run_id}.tar.gz")
        for run_id, sha, size in session.execute(query)
        if SAFE_RUN_ID.match(run_id)
    ]


def export_bundles(session: Session, out: Path) -> list[BundleEntry]:
    """Copy every bundle missing from `out` out of the blob store; the bundles' entries."""
    out.mkdir(parents=True, exist_ok=True)
    entries = bundle_entries(session)
    for entry in entries:
        target = out / entry.path
        if target.is_file() and target.stat().st_size == entry.size_bytes:
            continue
        data = session.scalar(select(Blob.data).where(Blob.sha256 == entry.sha256))
        if data is not None:
            write_atomic(target, data)
    return entries


def index_json(entries: list[BundleEntry]) -> bytes:
    index = {"count": len(entries), "bundles": [asdict(e) for e in entries]}
    return json.dumps(index, indent=1).encode() + b"\n"


def write_atomic(path: Path, data: bytes) -> None:
    """Write beside the final name, then rename: a reader sees the old file or the new one."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        tmp.write_bytes(data)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
