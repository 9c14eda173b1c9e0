"""Where the runner's signing key lives, and loading it safely.

The default is `$SPEEDRUN_KEY`, else `~/.config/speedrun/runner.key` (public half beside it
as `runner.key.pub`). The key is read by the runner process only; it is never mounted into
a container nor passed to a variant's environment.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from speedrun import signing
from speedrun.errors import KeyFileError

KEY_ENV = "SPEEDRUN_KEY"


def default_key_path() -> Path:
    env = os.environ.get(KEY_ENV)
    if env:
        return Path(env)
    return Path.home() / ".config" / "speedrun" / "runner.key"


def init_key(path: Path | None) -> Path:
    """Create a key pair; return the public key's path. Refuses to overwrite a key."""
    return signing.init_keypair(path or default_key_path())


def load_signing_key(path: Path | None) -> tuple[Ed25519PrivateKey, Path]:
    """The private key, refusing one that others may read."""
    key_path = path or default_key_path()
    if not key_path.exists():
        hint = "" if path else "; create one with `speedrun keys init`"
        raise KeyFileError(f"{key_path}: no signing key{hint}")
    try:
        mode = key_path.stat().st_mode
    except OSError as exc:
        raise KeyFileError(f"{key_path}: cannot read signing key ({exc.strerror})") from None
    if not stat.S_ISREG(mode):
        raise KeyFileError(f"{key_path}: not a regular file")
    if mode & 0o077:
        raise KeyFileError(
            f"{key_path}: signing key is readable by others (mode {stat.S_IMODE(mode):o}); "
            "chmod 600 it"
        )
    return signing.load_private_key(key_path), key_path
