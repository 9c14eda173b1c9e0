"""Pre-compressed copies of a snapshot's text files: `NAME.gz` beside NAME for any static
server (nginx's `gzip_static`), and `NAME.br` (brotli) for the hosts that serve those
(Caddy's `precompressed`, most CDNs; Debian's nginx lacks the module).

Both are deterministic (gzip's header carries no time or name), so an unchanged page
compresses to unchanged bytes. A copy is kept only when it is smaller than the file.
"""

from __future__ import annotations

import gzip

import brotli

TEXT_TYPES = frozenset(
    {
        "application/json",
        "application/javascript",
        "application/atom+xml",
        "application/xml",
        "image/svg+xml",
    }
)
MIN_BYTES = 256  # smaller files gain less than the copy's own overhead
GZIP_LEVEL = 9
BROTLI_QUALITY = 5  # smaller than gzip -9 at a quarter of its time; 11 is 100x slower


def compressible(content_type: str) -> bool:
    kind = content_type.split(";")[0].strip().lower()
    return kind.startswith("text/") or kind in TEXT_TYPES


def compressed(data: bytes) -> dict[str, bytes]:
    """The copies worth keeping, by suffix: {".gz": ..., ".br": ...}."""
    if len(data) < MIN_BYTES:
        return {}
    copies = {
        ".gz": gzip.compress(data, GZIP_LEVEL, mtime=0),
        ".br": brotli.compress(data, quality=BROTLI_QUALITY),
    }
    return {suffix: c for suffix, c in copies.items() if len(c) < len(data)}
