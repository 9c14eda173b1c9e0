"""Hub downloads through the real huggingface_hub code, against a loopback hub stand-in."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from huggingface_hub import hf_hub_download
from support.hub_standin import Fault, HubStandin

from speedrun.data import shards
from speedrun.data.fetch import fetch_track_data
from speedrun.data.hub import fetch_hub_dataset, hub_file_names
from speedrun.data.sums import SUMS_FILE, read_sums
from speedrun.errors import DataError, IntegrityError, ShardError, UsageError
from speedrun.tracks import Dataset, get_track

VAL, TRAIN1, TRAIN2, TRAIN3 = (
    "fineweb_val_000000.bin",
    "fineweb_train_000001.bin",
    "fineweb_train_000002.bin",
    "fineweb_train_000003.bin",
)
HF_CHUNK_BYTES = 10 * 1024 * 1024  # huggingface_hub writes (and can resume from) 10 MiB chunks


@pytest.fixture
def hub():
    with HubStandin() as standin:
        yield standin


@pytest.fixture
def dataset() -> Dataset:
    """The main track's dataset, cut down to the 3 train shards the stand-in hosts."""
    return replace(get_track("gpt2-124m-8xh100").dataset, train_shards=3)


@pytest.fixture
def hosted(hub, dataset):
    return hub.add_random_shards(hub_file_names(dataset))


def fetch(hub, dataset, folder, tmp_path, **options):
    options.setdefault("progress", False)
    return fetch_hub_dataset(
        dataset, folder, endpoint=hub.url, cache_dir=tmp_path / "hf-cache", **options
    )


def leftovers(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*.incomplete"))


@pytest.mark.parametrize("redirect", [True, False], ids=["cdn-redirect", "direct"])
def test_download_writes_verified_shards_into_the_data_folder(tmp_path, dataset, redirect):
    with HubStandin(redirect=redirect) as hub:
        hosted = hub.add_random_shards(hub_file_names(dataset))
        folder = tmp_path / "data" / dataset.name
        fetched = fetch(hub, dataset, folder, tmp_path)
    assert [f.name for f in fetched] == [VAL, TRAIN1, TRAIN2, TRAIN3]
    assert {f.action for f in fetched} == {"downloaded"}
    for f in fetched:
        assert f.path == folder / f.name
        assert f.path.read_bytes() == hosted[f.name].data
        assert f.sha256 == hosted[f.name].sha256 and f.size_bytes == len(hosted[f.name].data)
    assert read_sums(folder) == {f.name: f.sha256 for f in fetched}
    assert len(hub.body_gets()) == 4
    assert not list((tmp_path / "hf-cache").rglob("*.bin"))  # not (only) into the HF cache
    assert leftovers(folder) == []


def test_progress_bar_shown_when_enabled_and_silent_otherwise(
    tmp_path, hub, dataset, hosted, capsys
):
    fetch(hub, dataset, tmp_path / "loud", tmp_path, train_shards=1, progress=True)
    err = capsys.readouterr().err
    assert VAL in err and TRAIN1 in err and "100%" in err
    fetch(hub, dataset, tmp_path / "quiet", tmp_path, train_shards=1, progress=False)
    assert capsys.readouterr().err == ""


def test_interrupted_download_resumes_with_a_range_request(tmp_path, hub, dataset):
    rng = np.random.default_rng(1)
    big = hub.add_shard(VAL, rng.integers(0, 50257, 6_000_000, dtype=np.uint16))  # 12 MB
    assert len(big.data) > HF_CHUNK_BYTES + 100_000
    hub.faults[VAL] = Fault(drop_after_bytes=HF_CHUNK_BYTES + 50_000)
    fetched = fetch(hub, dataset, tmp_path / "data", tmp_path, train_shards=0)
    gets = hub.body_gets(VAL)
    assert [g.range for g in gets] == [None, f"bytes={HF_CHUNK_BYTES}-"]
    assert fetched[0].path.read_bytes() == big.data
    assert fetched[0].sha256 == big.sha256
    assert leftovers(tmp_path / "data") == []


def assert_rejected_and_gone(folder: Path, name: str) -> None:
    assert not (folder / name).exists()
    assert name not in read_sums(folder)
    assert not (folder / ".cache" / "huggingface" / "download" / f"{name}.metadata").exists()
    assert leftovers(folder) == []


def test_corrupted_download_is_rejected_and_removed(tmp_path, hub, dataset, hosted):
    hub.faults[TRAIN1] = Fault(corrupt=True)  # true sha256 advertised, bytes flipped
    folder = tmp_path / "data"
    with pytest.raises(IntegrityError) as err:
        fetch(hub, dataset, folder, tmp_path)
    assert err.value.path == str(folder / TRAIN1)
    assert err.value.expected_sha256 == hosted[TRAIN1].sha256
    assert "sha256 mismatch" in str(err.value) and TRAIN1 in str(err.value)
    assert_rejected_and_gone(folder, TRAIN1)
    assert read_sums(folder) == {VAL: hosted[VAL].sha256}  # fetched before the bad one
    assert not (folder / TRAIN2).exists()  # stopped at the bad file
    # Once the hub serves good bytes again, the same call completes.
    hub.faults.clear()
    assert [f.action for f in fetch(hub, dataset, folder, tmp_path)] == [
        "verified",
        "downloaded",
        "downloaded",
        "downloaded",
    ]


def test_wrong_advertised_sha256_is_rejected(tmp_path, hub, dataset, hosted):
    wrong = "0" * 64
    hub.faults[VAL] = Fault(advertise_sha256=wrong)
    folder = tmp_path / "data"
    with pytest.raises(IntegrityError) as err:
        fetch(hub, dataset, folder, tmp_path)
    assert (err.value.expected_sha256, err.value.actual_sha256) == (wrong, hosted[VAL].sha256)
    assert_rejected_and_gone(folder, VAL)
    assert not (folder / SUMS_FILE).exists() or read_sums(folder) == {}


def test_file_that_is_not_a_shard_is_rejected_even_with_a_matching_sha256(tmp_path, hub, dataset):
    hub.add_file(VAL, b"<html>not a shard</html>" * 100)
    folder = tmp_path / "data"
    with pytest.raises(ShardError) as err:
        fetch(hub, dataset, folder, tmp_path, train_shards=0)
    assert err.value.path == str(folder / VAL) and "wrong magic" in err.value.problem
    assert_rejected_and_gone(folder, VAL)


def test_second_fetch_verifies_without_any_request(tmp_path, hub, dataset, hosted):
    folder = tmp_path / "data"
    fetch(hub, dataset, folder, tmp_path)
    hub.requests.clear()
    again = fetch(hub, dataset, folder, tmp_path)
    assert {f.action for f in again} == {"verified"}
    assert hub.requests == []  # recorded digests match: offline


def test_rerun_after_a_failed_fetch_downloads_only_what_is_missing(tmp_path, hub, dataset):
    hub.add_random_shards([VAL, TRAIN1, TRAIN3])  # TRAIN2 not there yet: the fetch stops
    folder = tmp_path / "data"
    with pytest.raises(DataError, match=TRAIN2):
        fetch(hub, dataset, folder, tmp_path)
    assert set(read_sums(folder)) == {VAL, TRAIN1}  # recorded as they landed
    hub.add_random_shards([TRAIN2], seed=7)
    hub.requests.clear()
    fetched = fetch(hub, dataset, folder, tmp_path)
    assert [f.action for f in fetched] == ["verified", "verified", "downloaded", "downloaded"]
    assert sorted({g.path for g in hub.body_gets()}) == sorted(
        f"/lfs/{hub.files[n].sha256}" for n in (TRAIN2, TRAIN3)
    )


def test_present_but_unrecorded_files_are_verified_against_the_hub(tmp_path, hub, dataset, hosted):
    folder = tmp_path / "data"
    folder.mkdir()
    for name, f in hosted.items():  # e.g. left by modded-nanogpt's cached_fineweb10B.py
        (folder / name).write_bytes(f.data)
    fetched = fetch(hub, dataset, folder, tmp_path)
    assert {f.action for f in fetched} == {"verified"}
    assert hub.body_gets() == []
    assert {r.method for r in hub.requests} == {"HEAD"}
    assert read_sums(folder) == {n: f.sha256 for n, f in hosted.items()}


def test_stale_file_that_huggingface_hub_would_trust_is_replaced(tmp_path, hub, dataset, hosted):
    folder = tmp_path / "data"
    fetch(hub, dataset, folder, tmp_path, train_shards=1)
    # Damage the file after the fact; huggingface_hub's own metadata still vouches for it.
    damaged = bytearray(hosted[TRAIN1].data)
    damaged[-1] ^= 0xFF
    (folder / TRAIN1).write_bytes(bytes(damaged))
    hub.requests.clear()
    fetched = fetch(hub, dataset, folder, tmp_path, train_shards=1)
    assert [f.action for f in fetched] == ["verified", "downloaded"]
    assert (folder / TRAIN1).read_bytes() == hosted[TRAIN1].data
    assert len(hub.body_gets(TRAIN1)) == 1


def test_corrupt_copy_in_the_hf_cache_is_rejected_and_deleted(tmp_path, hub, dataset, hosted):
    cache = tmp_path / "hf-cache"
    hub.faults[VAL] = Fault(corrupt=True)
    cached = Path(
        hf_hub_download(
            dataset.source,
            VAL,
            repo_type="dataset",
            revision=dataset.revision,
            cache_dir=cache,
            endpoint=hub.url,
        )
    )
    blob = cached.resolve()
    assert blob.read_bytes() != hosted[VAL].data  # the cache now holds a bad copy
    hub.faults.clear()
    hub.requests.clear()
    folder = tmp_path / "data"
    with pytest.raises(IntegrityError):
        fetch(hub, dataset, folder, tmp_path, train_shards=0)
    assert hub.body_gets() == []  # huggingface_hub copied it from its cache
    assert not blob.exists() and not cached.exists()
    assert_rejected_and_gone(folder, VAL)
    fetched = fetch(hub, dataset, folder, tmp_path, train_shards=0)
    assert fetched[0].action == "downloaded" and fetched[0].sha256 == hosted[VAL].sha256


def test_file_missing_on_the_hub_is_a_clear_error(tmp_path, hub, dataset):
    hub.add_random_shards([VAL, TRAIN1])
    with pytest.raises(DataError, match=TRAIN2) as err:
        fetch(hub, dataset, tmp_path / "data", tmp_path, train_shards=2)
    assert "Entry Not Found" in str(err.value) or "404" in str(err.value)


def test_unreachable_hub_deletes_nothing(tmp_path, dataset, hosted):
    folder = tmp_path / "data"
    folder.mkdir()
    (folder / VAL).write_bytes(hosted[VAL].data)  # present, never recorded
    with pytest.raises(DataError, match=VAL):
        fetch_hub_dataset(
            dataset, folder, endpoint="http://127.0.0.1:9", cache_dir=tmp_path, progress=False
        )
    assert (folder / VAL).read_bytes() == hosted[VAL].data


def test_fetch_track_data_uses_the_default_endpoint_and_fails_cleanly(tmp_path):
    # The suite points HF_ENDPOINT at a closed port before huggingface_hub is imported.
    with pytest.raises(DataError, match=VAL):
        fetch_track_data(get_track("gpt2-124m-1xgpu"), tmp_path, train_shards=0, progress=False)
    assert not (tmp_path / "fineweb10B" / VAL).exists()


@pytest.mark.parametrize("n", [-1, 4])
def test_train_shard_count_out_of_range_is_a_usage_error(dataset, n):
    with pytest.raises(UsageError, match="between 0 and 3"):
        hub_file_names(dataset, n)


def test_cli_fetch_honours_hf_endpoint_and_train_shards(tmp_path, hub, hosted):
    """`speedrun data fetch --train-shards 2` in a real process: val + exactly 2 train shards."""
    env = {**os.environ, "HF_ENDPOINT": hub.url, "HF_HOME": str(tmp_path / "hf-home")}
    cmd = [sys.executable, "-m", "speedrun.cli", "data", "fetch", "--track", "gpt2-124m-8xh100",
           "--data-dir", str(tmp_path / "data"), "--train-shards", "2"]  # fmt: skip
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    folder = tmp_path / "data" / "fineweb10B"
    assert sorted(p.name for p in folder.iterdir() if p.is_file()) == [
        SUMS_FILE,
        TRAIN1,
        TRAIN2,
        VAL,
    ]
    assert sorted({g.path for g in hub.body_gets()}) == sorted(
        f"/lfs/{hosted[n].sha256}" for n in (VAL, TRAIN1, TRAIN2)
    )
    assert "3 files ready" in done.stdout and done.stdout.count("downloaded") == 3
    assert VAL in done.stderr  # the progress bar
    assert json.loads((folder / SUMS_FILE).read_text()) == {
        n: hosted[n].sha256 for n in (VAL, TRAIN1, TRAIN2)
    }
    for name in (VAL, TRAIN1, TRAIN2):
        assert shards.read_header(folder / name) == 50_000
    assert not (tmp_path / "hf-home" / "hub").exists() or not any(
        (tmp_path / "hf-home" / "hub").rglob("*.bin")
    )
