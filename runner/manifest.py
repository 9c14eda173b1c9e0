"""The bundle's manifest from an attempt's outcome, and writing the bundle atomically.

The manifest follows speedrun/schemas/manifest.v1.schema.json; the runner adds the blocks
`timing` (how the official time was obtained), `evaluation` (the independent evaluator's
result) and `sandbox` (what the process was allowed), all covered by the signature.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

import runner
from speedrun import signing
from speedrun.bundle import build_bundle
from speedrun.tracks import Track


def utc_now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def runner_block(key: Ed25519PrivateKey) -> dict[str, Any]:
    return {
        "key_id": signing.key_id(key.public_key()),
        "version": runner.__version__,
        "host": socket.gethostname(),
    }


def data_block(track: Track, sha256: Mapping[str, str]) -> dict[str, Any]:
    return {
        "dataset": track.dataset.name,
        "revision": track.dataset.revision,
        "files": dict(sorted(sha256.items())),
    }


def write_bundle_file(
    out_dir: Path,
    name: str,
    manifest: Mapping[str, Any],
    members: Mapping[str, bytes],
    key: Ed25519PrivateKey,
) -> Path:
    """Sign and write `out_dir/name`: a temporary file, fsync'd, renamed into place."""
    data = build_bundle(manifest, members, key)
    out_dir.mkdir(parents=True, exist_ok=True)
    final = out_dir / name
    tmp = out_dir / f".{name}.partial"
    with open(tmp, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, final)
    return final
