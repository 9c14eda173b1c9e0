"""Static assets under content-hashed names, so a snapshot's host may cache them forever.

The live pages reference `/static/site.css?v=HASH` (`server.app.page_templates`' `asset`);
a static host ignores the query, so in the snapshot the file is `static/site.HASH.css` and
every reference is rewritten to it. HASH is the first 12 hex digits of the content's
sha256, as the live server's, so the two name the same bytes.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from pathlib import PurePosixPath

ASSET_REF = re.compile(r"/static/([A-Za-z0-9_-]+(?:\.[A-Za-z0-9_-]+)*)\?v=([0-9a-f]{6,64})")


def content_hash(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()[:12]


def hashed_name(name: str, data: bytes) -> str:
    """`site.css` -> `site.0123456789ab.css` (the hash of `data`)."""
    stem, dot, ext = name.rpartition(".")
    digest = content_hash(data)
    return f"{stem}.{digest}.{ext}" if dot else f"{name}.{digest}"


def asset_refs(text: str) -> set[str]:
    """The versioned asset URLs a page references (`/static/NAME?v=HASH`)."""
    return {m.group(0) for m in ASSET_REF.finditer(text)}


def asset_path(ref: str) -> str:
    """The live path an asset reference fetches (`/static/site.css`)."""
    match = ASSET_REF.fullmatch(ref)
    if match is None:
        raise ValueError(f"not an asset reference: {ref!r}")
    return f"/static/{match.group(1)}"


def snapshot_path(ref: str, data: bytes) -> PurePosixPath:
    """Where the asset's bytes lie in the snapshot (`static/site.HASH.css`)."""
    name = PurePosixPath(asset_path(ref)).name
    return PurePosixPath("static", hashed_name(name, data))


def rewrite(text: str, resolve: Callable[[str], str]) -> str:
    """`text` with every asset reference replaced by `resolve(reference)`."""
    return ASSET_REF.sub(lambda m: resolve(m.group(0)), text)
