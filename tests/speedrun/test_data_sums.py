"""speedrun.data.sums: the SHA256SUMS.json of a data folder, written atomically and sorted,
and refused with the file named when it is not a name-to-digest map."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from speedrun.data.sums import SUMS_FILE, read_sums, write_sums
from speedrun.errors import DataError


def test_sums_round_trip_sorted_and_leave_no_partial_file(tmp_path: Path) -> None:
    sums = {"val_000.bin": "b" * 64, "train_000.bin": "a" * 64}
    write_sums(tmp_path, sums)
    assert read_sums(tmp_path) == sums
    text = (tmp_path / SUMS_FILE).read_text(encoding="utf-8")
    assert list(json.loads(text)) == ["train_000.bin", "val_000.bin"]
    assert [p.name for p in tmp_path.iterdir()] == [SUMS_FILE]


def test_a_folder_without_sums_reads_as_empty(tmp_path: Path) -> None:
    assert read_sums(tmp_path) == {}


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("{not json", "unreadable checksum file"),
        ('["a", "b"]', "must map file names to sha256 strings"),
        ('{"train_000.bin": 123}', "must map file names to sha256 strings"),
    ],
)
def test_a_malformed_sums_file_is_refused_with_its_path(
    tmp_path: Path, text: str, reason: str
) -> None:
    (tmp_path / SUMS_FILE).write_text(text, encoding="utf-8")
    with pytest.raises(DataError, match=reason) as err:
        read_sums(tmp_path)
    assert str(tmp_path / SUMS_FILE) in str(err.value)
