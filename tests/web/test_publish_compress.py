"""Pre-compressed copies: they decompress to the file, the same bytes give the same copies
(no time or name in gzip's header), and a copy that saves nothing is not kept."""

from __future__ import annotations

import gzip
import os

import brotli

from web.publish import compress

PAGE = ("<tr><td>1</td><td>record</td><td>3:21.4</td></tr>\n" * 200).encode()


def test_copies_decompress_to_the_file_and_are_deterministic():
    copies = compress.compressed(PAGE)
    assert gzip.decompress(copies[".gz"]) == PAGE
    assert brotli.decompress(copies[".br"]) == PAGE
    assert compress.compressed(PAGE) == copies
    assert len(copies[".br"]) < len(PAGE) / 10


def test_small_or_incompressible_files_get_no_copy():
    assert compress.compressed(b"<p>hi</p>") == {}
    noise = bytes(range(256)) * 4  # a permutation repeated: gzip still wins; random would not
    random = os.urandom(4096)
    assert ".gz" in compress.compressed(noise)
    assert compress.compressed(random) == {}


def test_which_types_are_compressed():
    for kind in ("text/html; charset=utf-8", "application/json", "image/svg+xml", "text/x-python"):
        assert compress.compressible(kind), kind
    for kind in ("application/gzip", "application/octet-stream", "image/png"):
        assert not compress.compressible(kind), kind
