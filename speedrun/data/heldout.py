"""Held-out data: what a runner deployment knows and no submission can (torch-free).

A deployment's runners share one secret: 32 random bytes in a file (`speedrun keys
held-out FILE`, mode 0600), handed to `speedrun run` / `speedrun agent` with `--held-out FILE`
(or `$SPEEDRUN_HELD_OUT`) and never mounted into a container. What it gives depends on the
track's `evaluation.held_out`:

* `secret-language` (synthetic tracks): the language itself — grammar, training shards,
  validation shard and a private slice — derives from the secret (HMAC-SHA256 of the secret
  and a label, per seed). The public generator and seeds (what a laptop builds without a
  secret) say nothing about it, so inside the sandbox neither the scored tokens nor more
  training data can be rebuilt, and an untimed warmup has no in-distribution data to train on.
* `private-slice` (hub tracks): the deployment keeps a second validation slice next to the
  secret file, `<secret file>.<dataset>.private.bin`; only runners hold it.

Either way the bundle commits to the secret by `commitment` (a tagged sha256 of it: a
32-byte random secret cannot be recovered from it) and to the slices by their sha256, and the
evaluator scores the private slice beside the scored one: a gap beyond the track's tolerance
fails the run (a model tuned to public data shows there).
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
from dataclasses import dataclass
from pathlib import Path

from speedrun.errors import KeyFileError, UsageError

SECRET_BYTES = 32
HELD_OUT_ENV = "SPEEDRUN_HELD_OUT"
_TAG = b"speedrun held-out v1\x00"


@dataclass(frozen=True)
class HeldOutSecret:
    key: bytes = bytes(SECRET_BYTES)
    path: Path | None = None

    @property
    def commitment(self) -> str:
        """What bundles carry: binds a run to this secret without revealing it."""
        return hashlib.sha256(_TAG + self.key).hexdigest()

    @property
    def short_id(self) -> str:
        return self.commitment[:12]

    def seed(self, label: str) -> int:
        """A 63-bit generator seed for `label`, unknowable without the secret."""
        digest = hmac.new(self.key, label.encode("utf-8"), hashlib.sha256).digest()
        return int.from_bytes(digest[:8], "big") >> 1

    def private_slice_file(self, dataset_name: str) -> Path | None:
        """Where a `private-slice` track's file lies for this deployment, if anywhere."""
        if self.path is None:
            return None
        return self.path.with_name(f"{self.path.name}.{dataset_name}.private.bin")


def init_secret(path: str | os.PathLike[str]) -> HeldOutSecret:
    """Create a new secret file (0600); refuses to overwrite one."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    key = secrets.token_bytes(SECRET_BYTES)
    try:
        fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        raise UsageError(f"{target} exists; refusing to overwrite a held-out secret") from None
    with os.fdopen(fd, "w", encoding="ascii") as f:
        f.write(key.hex() + "\n")
    return HeldOutSecret(key, target)


def load_secret(path: str | os.PathLike[str]) -> HeldOutSecret:
    """Read a secret file: 64 hex digits (and optional whitespace)."""
    target = Path(path)
    try:
        with open(target, "rb") as f:
            raw = f.read(4096)
    except OSError as exc:
        raise KeyFileError(f"{target}: cannot read the held-out secret ({exc.strerror})") from None
    try:
        key = bytes.fromhex(raw.decode("ascii").strip())
    except (UnicodeDecodeError, ValueError):
        key = b""
    if len(key) != SECRET_BYTES:
        raise KeyFileError(f"{target}: a held-out secret is {SECRET_BYTES * 2} hex digits")
    return HeldOutSecret(key, target)


def secret_from_env(path: str | os.PathLike[str] | None) -> HeldOutSecret | None:
    """`path`, else `$SPEEDRUN_HELD_OUT`, else None (public data: runs never official)."""
    chosen = path or os.environ.get(HELD_OUT_ENV)
    return load_secret(chosen) if chosen else None
