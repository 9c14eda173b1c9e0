"""The files of a track's data folder as a fetch leaves them: each with its sha256, and the
folder's `SHA256SUMS.json` recording every digest (runs copy them into their fingerprint).
Shared by the synthetic builder (speedrun.data.fetch) and the hub download (speedrun.data.hub),
which import this module and not each other."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

from speedrun.errors import DataError

SUMS_FILE = "SHA256SUMS.json"


@dataclass(frozen=True)
class FetchedFile:
    name: str
    path: Path
    sha256: str
    size_bytes: int
    action: str  # "built", "downloaded", "verified"


def read_sums(folder: Path) -> dict[str, str]:
    path = folder / SUMS_FILE
    if not path.exists():
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise DataError(f"{path}: unreadable checksum file ({exc})") from None
    if not isinstance(data, dict) or not all(isinstance(v, str) for v in data.values()):
        raise DataError(f"{path}: checksum file must map file names to sha256 strings")
    return {str(k): v for k, v in data.items()}


def write_sums(folder: Path, sums: dict[str, str]) -> None:
    tmp = folder / f"{SUMS_FILE}.{os.getpid()}.partial"
    tmp.write_text(json.dumps(dict(sorted(sums.items())), indent=2) + "\n", encoding="utf-8")
    os.replace(tmp, folder / SUMS_FILE)
