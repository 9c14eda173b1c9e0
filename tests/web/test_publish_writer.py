"""Writing a snapshot: unchanged bytes are not rewritten (a host's ETag stays), copies are
written with the file and removed when no longer wanted, a copy left newer than its file by
a write that never finished is redone, nothing lands outside the folder, and a build deletes
only what it no longer produces."""

from __future__ import annotations

import gzip
import os
from pathlib import Path, PurePosixPath

import pytest

from web.publish.writer import SnapshotWriter

PAGE = b"<p>a record</p>\n" * 100
P = PurePosixPath("records/1/index.html")


def test_unchanged_bytes_are_not_written_again(tmp_path: Path):
    writer = SnapshotWriter(tmp_path)
    assert writer.write(P, PAGE, compress=True)
    page, copy = tmp_path / P, tmp_path / f"{P}.gz"
    assert gzip.decompress(copy.read_bytes()) == PAGE and (tmp_path / f"{P}.br").exists()
    before = page.stat().st_mtime_ns, copy.stat().st_mtime_ns
    assert not SnapshotWriter(tmp_path).write(P, PAGE, compress=True)
    assert (page.stat().st_mtime_ns, copy.stat().st_mtime_ns) == before
    assert SnapshotWriter(tmp_path).write(P, b"<p>short</p>", compress=True)
    assert page.read_bytes() == b"<p>short</p>" and not copy.exists()  # too small to copy


def test_a_copy_newer_than_its_file_is_redone(tmp_path: Path):
    writer = SnapshotWriter(tmp_path)
    writer.write(P, PAGE, compress=True)
    copy = tmp_path / f"{P}.gz"
    copy.write_bytes(gzip.compress(b"the next version, whose file never came"))
    stamp = (tmp_path / P).stat().st_mtime_ns + 1_000_000
    os.utime(copy, ns=(stamp, stamp))
    assert SnapshotWriter(tmp_path).write(P, PAGE, compress=True)
    assert gzip.decompress(copy.read_bytes()) == PAGE


def test_nothing_lands_outside_the_folder(tmp_path: Path):
    writer = SnapshotWriter(tmp_path / "snap")
    for bad in (PurePosixPath("../escape.html"), PurePosixPath("/etc/passwd")):
        with pytest.raises(ValueError):
            writer.write(bad, b"x", compress=False)
    assert not (tmp_path / "escape.html").exists()


def test_prune_deletes_only_what_the_build_did_not_produce(tmp_path: Path):
    old = SnapshotWriter(tmp_path)
    old.write(P, PAGE, compress=True)
    old.write(PurePosixPath("records/2/index.html"), PAGE, compress=True)
    (tmp_path / ".publish-state.json").write_text("{}")
    new = SnapshotWriter(tmp_path)
    new.write(P, PAGE, compress=True)
    new.adopt(PurePosixPath("data/runs.parquet"))
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "runs.parquet").write_bytes(b"PAR1")
    assert new.prune() == 3  # record 2's page and its two copies
    left = sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*") if p.is_file())
    assert left == [
        ".publish-state.json",
        "data/runs.parquet",
        "records/1/index.html",
        "records/1/index.html.br",
        "records/1/index.html.gz",
    ]


def test_a_second_name_is_a_hard_link(tmp_path: Path):
    writer = SnapshotWriter(tmp_path)
    bundle = PurePosixPath("data/bundles/ab.tar.gz")
    writer.write(bundle, b"\x1f\x8b bundle bytes", compress=False)
    live = PurePosixPath("api/v1/runs/ab/bundle")
    writer.link(live, bundle)
    assert (tmp_path / live).samefile(tmp_path / bundle)
    writer.link(live, bundle)  # again: nothing to do
    assert PurePosixPath("api/v1/runs/ab/bundle") in writer.kept
