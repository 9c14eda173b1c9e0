"""runner.backends.guard: the output directory's bound. Disk blocks are added up (links not
followed, sparse holes free), entries counted, and the guard trips once either is over; it
looks at most every `every_s` and stays tripped."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from runner.backends import guard
from runner.backends.guard import OutputGuard, disk_usage


def test_disk_usage_counts_blocks_and_entries_without_following_links(tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "data").write_bytes(os.urandom(100_000))
    (tmp_path / "link").symlink_to("/usr")  # would be huge if followed
    with open(tmp_path / "sparse", "wb") as f:
        f.truncate(1 << 30)  # a 1 GiB hole costs no blocks
    used, entries = disk_usage(tmp_path)
    assert entries == 4
    assert 100_000 <= used < 1 << 20


def test_the_guard_trips_past_its_bound_and_stays_tripped(tmp_path: Path) -> None:
    g = OutputGuard(tmp_path, limit_bytes=50_000, every_s=0.0)
    assert not g.check() and g.exceeded is None
    (tmp_path / "big").write_bytes(os.urandom(100_000))
    assert g.check() and g.exceeded == "its output directory grew past 50000 bytes"
    (tmp_path / "big").unlink()
    assert g.check()  # once over, the process is being stopped: no second chance


def test_too_many_entries_trip_the_guard(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(guard, "MAX_ENTRIES", 5)
    for i in range(7):
        (tmp_path / str(i)).touch()
    g = OutputGuard(tmp_path, limit_bytes=1 << 30, every_s=0.0)
    assert g.check() and g.exceeded == "its output directory holds more than 5 entries"


def test_the_guard_looks_only_every_interval(tmp_path: Path) -> None:
    g = OutputGuard(tmp_path, limit_bytes=10, every_s=3600)
    assert not g.check()  # the first look: empty
    (tmp_path / "big").write_bytes(b"x" * 10_000)
    assert not g.check()  # not looked again within the interval


def test_without_a_folder_or_a_bound_nothing_is_watched(tmp_path: Path) -> None:
    (tmp_path / "big").write_bytes(b"x" * 10_000)
    assert not OutputGuard(None, 1).check()
    assert not OutputGuard(tmp_path, None).check()
    assert disk_usage(tmp_path / "missing") == (0, 0)
