"""runner.safefs: reading what a sandboxed process wrote without following its links,
escaping its folder, blocking on a FIFO or reading past a size bound."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest

from runner.safefs import (
    UnsafeFileError,
    copy_regular_file,
    hash_regular_file,
    list_regular_files,
    read_regular_file,
)


@pytest.fixture
def out(tmp_path: Path) -> Path:
    root = tmp_path / "out"
    (root / "logs").mkdir(parents=True)
    (root / "logs" / "run.txt").write_bytes(b"step:1/1\n")
    return root


def test_regular_files_are_read_copied_hashed_and_listed(out: Path, tmp_path: Path) -> None:
    assert read_regular_file(out, "logs/run.txt", max_bytes=100) == b"step:1/1\n"
    dest = tmp_path / "copy.txt"
    assert copy_regular_file(out, "logs/run.txt", dest, max_bytes=100) == 9
    assert dest.read_bytes() == b"step:1/1\n"
    digest = hash_regular_file(out, "logs//run.txt", max_bytes=100)
    assert digest == hashlib.sha256(b"step:1/1\n").hexdigest()
    (out / "logs" / "other.json").write_text("{}")
    assert list_regular_files(out, "logs", ".txt") == ["logs/run.txt"]
    assert list_regular_files(out, "missing", ".txt") == []


def test_planted_symlinks_are_never_followed(out: Path, tmp_path: Path) -> None:
    secret = tmp_path / "runner.key"
    secret.write_bytes(b"PRIVATE")
    (out / "model.pt2").symlink_to(secret)
    (out / "linked").symlink_to(tmp_path, target_is_directory=True)
    for relative in ("model.pt2", "linked/runner.key"):
        with pytest.raises(UnsafeFileError, match=relative.split("/")[0]):
            read_regular_file(out, relative, max_bytes=100)
        with pytest.raises(UnsafeFileError):
            hash_regular_file(out, relative, max_bytes=100)
    (out / "logs" / "key.txt").symlink_to(secret)
    assert list_regular_files(out, "logs", ".txt") == ["logs/run.txt"]
    assert list_regular_files(out, "linked", ".key") == []


@pytest.mark.parametrize("relative", ["../runner.key", "logs/../../x", "", "/", "./logs/run.txt"])
def test_paths_that_leave_the_root_are_refused(out: Path, relative: str) -> None:
    with pytest.raises(UnsafeFileError, match="bad relative path"):
        read_regular_file(out, relative, max_bytes=100)


def test_fifos_folders_and_oversized_files_are_refused(out: Path, tmp_path: Path) -> None:
    os.mkfifo(out / "events")
    with pytest.raises(UnsafeFileError, match="events: not a regular file"):
        read_regular_file(out, "events", max_bytes=100)
    with pytest.raises(UnsafeFileError, match="too large"):
        read_regular_file(out, "logs/run.txt", max_bytes=8)
    with pytest.raises(UnsafeFileError, match="No such file"):
        read_regular_file(out, "logs/absent.txt", max_bytes=8)
    dest = tmp_path / "never.txt"
    with pytest.raises(UnsafeFileError):
        copy_regular_file(out, "logs/run.txt", dest, max_bytes=8)
    assert not dest.exists()


def test_a_folder_planted_where_a_file_is_expected_is_refused(out: Path, tmp_path: Path) -> None:
    (out / "model.pt2").mkdir()
    with pytest.raises(UnsafeFileError, match=r"model\.pt2: not a regular file"):
        copy_regular_file(out, "model.pt2", tmp_path / "model.pt2", max_bytes=100)
    before = len(os.listdir("/proc/self/fd"))
    for _ in range(5):
        with pytest.raises(UnsafeFileError):
            copy_regular_file(out, "model.pt2", tmp_path / "model.pt2", max_bytes=100)
    assert len(os.listdir("/proc/self/fd")) == before  # no descriptor left open
