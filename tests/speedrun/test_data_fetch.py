"""Synthetic track data: built to the pins, verified on a rerun, rebuilt when damaged."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import pytest

from speedrun.data import shards
from speedrun.data.fetch import default_data_dir, fetch_track_data
from speedrun.data.sums import SUMS_FILE, FetchedFile, read_sums, write_sums
from speedrun.errors import DataError, IntegrityError
from speedrun.tracks import DataFile, Track, get_track


@pytest.fixture(scope="module")
def smoke() -> Track:
    return get_track("cpu-smoke")


def pins(track: Track) -> dict[str, str]:
    files = [track.dataset.val_file, *track.dataset.train_files]
    return {f.name: f.sha256 for f in files if f.sha256}


@pytest.fixture(scope="module")
def built(smoke, tmp_path_factory) -> tuple[Path, list[FetchedFile]]:
    """One build of cpu-smoke for the module (a build takes a few seconds)."""
    data_dir = tmp_path_factory.mktemp("built")
    return data_dir, fetch_track_data(smoke, data_dir, progress=False)


def copy_of(built: tuple[Path, list[FetchedFile]], tmp_path: Path) -> Path:
    shutil.copytree(built[0], tmp_path, dirs_exist_ok=True)
    return tmp_path


def test_build_matches_the_pins_and_records_them(built, smoke):
    data_dir, fetched = built
    folder = data_dir / smoke.dataset.name
    assert {f.name: f.sha256 for f in fetched} == pins(smoke)
    assert {f.action for f in fetched} == {"built"}
    assert read_sums(folder) == pins(smoke)
    for f in fetched:
        assert f.path.parent == folder and f.size_bytes == f.path.stat().st_size
    val = shards.read_shard(folder / smoke.dataset.val_file.name)
    assert val.size == smoke.dataset.val_file.tokens and val[0] == smoke.dataset.eos_token
    assert sorted(p.name for p in folder.iterdir()) == sorted([*pins(smoke), SUMS_FILE])


def test_rerun_verifies_and_damaged_file_is_rebuilt(built, tmp_path, smoke):
    copy_of(built, tmp_path)
    folder = tmp_path / smoke.dataset.name
    train = folder / smoke.dataset.train_files[0].name
    mtime = train.stat().st_mtime_ns
    assert {f.action for f in fetch_track_data(smoke, tmp_path)} == {"verified"}
    assert train.stat().st_mtime_ns == mtime
    train.write_bytes(train.read_bytes()[:-2] + b"\x01\x00")
    actions = {f.name: f.action for f in fetch_track_data(smoke, tmp_path)}
    assert actions[train.name] == "built" and actions[smoke.dataset.val_file.name] == "verified"
    assert shards.sha256_file(train) == pins(smoke)[train.name]


def test_build_that_misses_its_pin_is_refused_and_not_kept(tmp_path, smoke):
    wrong = "f" * 64
    val = replace(smoke.dataset.val_file, sha256=wrong)
    track = replace(smoke, dataset=replace(smoke.dataset, val_file=val))
    with pytest.raises(IntegrityError) as err:
        fetch_track_data(track, tmp_path)
    folder = tmp_path / smoke.dataset.name
    assert err.value.path == str(folder / val.name)
    assert err.value.expected_sha256 == wrong
    assert err.value.actual_sha256 == pins(smoke)[val.name]
    assert list(folder.iterdir()) == []  # no shard, no temp file, no checksum entry


def test_unpinned_synthetic_file_is_built_and_recorded(tmp_path, smoke):
    val = DataFile(smoke.dataset.val_file.name, tokens=65536)
    track = replace(smoke, dataset=replace(smoke.dataset, val_file=val))
    fetched = fetch_track_data(track, tmp_path)
    assert fetched[0].sha256 == pins(smoke)[val.name]  # same seed, same bytes


def test_sums_file_round_trip_and_bad_content(tmp_path):
    write_sums(tmp_path, {"b.bin": "2" * 64, "a.bin": "1" * 64})
    text = (tmp_path / SUMS_FILE).read_text()
    assert list(json.loads(text)) == ["a.bin", "b.bin"]
    assert read_sums(tmp_path) == {"a.bin": "1" * 64, "b.bin": "2" * 64}
    assert read_sums(tmp_path / "nowhere") == {}
    for bad in ("{not json", '["a"]', '{"a.bin": 5}'):
        (tmp_path / SUMS_FILE).write_text(bad)
        with pytest.raises(DataError, match=SUMS_FILE):
            read_sums(tmp_path)


def test_default_data_dir_follows_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("SPEEDRUN_DATA_DIR", str(tmp_path))
    assert default_data_dir() == tmp_path
    monkeypatch.delenv("SPEEDRUN_DATA_DIR")
    assert default_data_dir() == Path("data")


def test_processes_building_one_data_dir_at_once_all_succeed(smoke, built, tmp_path):
    """Agents on one host share a data dir: simultaneous builds must not trip over each
    other's temporary files (one agent's job failed on a vanished `.building.partial`)."""
    code = (
        "import sys, time; from pathlib import Path; from speedrun.data.fetch import "
        "fetch_track_data; from speedrun.tracks import get_track; go = Path(sys.argv[2])\n"
        "while not go.exists(): time.sleep(0.001)\n"  # all start building together
        "fetch_track_data(get_track('cpu-smoke'), Path(sys.argv[1]), progress=False)"
    )
    go = tmp_path / "go"
    data = tmp_path / "data"
    procs = [
        subprocess.Popen([sys.executable, "-c", code, str(data), str(go)], stderr=subprocess.PIPE)
        for _ in range(4)
    ]
    time.sleep(3)  # the imports
    go.touch()
    errors = [p.communicate()[1].decode()[-500:] for p in procs if p.wait() != 0]
    assert errors == []
    folder = data / smoke.dataset.name
    assert sorted(f.name for f in folder.iterdir()) == sorted(
        f.name for f in (built[0] / smoke.dataset.name).iterdir()
    )  # the pinned shards and the sums file, no temporary file left
    assert read_sums(folder) == pins(smoke)
