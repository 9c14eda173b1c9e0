"""Held-out data: the deployment's secret, and synthetic tracks built from it."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from speedrun.data import shards
from speedrun.data.fetch import PRIVATE_FILE, dataset_folder, fetch_track_data
from speedrun.data.heldout import init_secret, load_secret, secret_from_env
from speedrun.data.sums import read_sums
from speedrun.errors import KeyFileError, UsageError
from speedrun.tracks import get_track

TRACK = get_track("cpu-smoke")


def test_a_secret_file_is_private_and_refuses_to_be_overwritten(tmp_path: Path) -> None:
    path = tmp_path / "s" / "held-out.secret"
    made = init_secret(path)
    assert os.stat(path).st_mode & 0o777 == 0o600
    assert load_secret(path).commitment == made.commitment
    assert made.commitment != made.key.hex() and len(made.commitment) == 64
    with pytest.raises(UsageError, match="refusing to overwrite"):
        init_secret(path)


@pytest.mark.parametrize("content", [b"", b"zz" * 32, b"ab" * 31, b"\xff\xfe"])
def test_a_malformed_secret_is_a_clear_error(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "bad.secret"
    path.write_bytes(content)
    with pytest.raises(KeyFileError, match="64 hex digits"):
        load_secret(path)
    with pytest.raises(KeyFileError, match="cannot read"):
        load_secret(tmp_path / "missing")


def test_the_environment_names_the_default_secret(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("SPEEDRUN_HELD_OUT", raising=False)
    assert secret_from_env(None) is None
    made = init_secret(tmp_path / "env.secret")
    monkeypatch.setenv("SPEEDRUN_HELD_OUT", str(tmp_path / "env.secret"))
    found = secret_from_env(None)
    assert found is not None and found.commitment == made.commitment


def test_seeds_differ_per_label_and_per_secret(tmp_path: Path) -> None:
    a, b = init_secret(tmp_path / "a"), init_secret(tmp_path / "b")
    assert a.seed("x/grammar") != a.seed("x/val") != b.seed("x/val")
    assert a.seed("x/val") == load_secret(tmp_path / "a").seed("x/val")
    assert 0 <= a.seed("x") < 2**63


def test_a_secret_build_shares_nothing_with_the_public_one(tmp_path: Path) -> None:
    secret = init_secret(tmp_path / "deployment.secret")
    public = {f.name: f for f in fetch_track_data(TRACK, tmp_path, progress=False)}
    built = {f.name: f for f in fetch_track_data(TRACK, tmp_path, progress=False, secret=secret)}
    assert set(built) == {*public, PRIVATE_FILE}
    for name, f in public.items():
        assert built[name].sha256 != f.sha256  # no shard of the secret language is public
        assert built[name].path.parent == dataset_folder(TRACK, tmp_path, secret)
    private = shards.read_shard(built[PRIVATE_FILE].path)
    assert len(private) == TRACK.evaluation.private_slice_tokens + 1
    # A second fetch verifies against the digests recorded at build time.
    again = fetch_track_data(TRACK, tmp_path, progress=False, secret=secret)
    assert {f.action for f in again} == {"verified"}
    folder = dataset_folder(TRACK, tmp_path, secret)
    assert read_sums(folder)[PRIVATE_FILE] == built[PRIVATE_FILE].sha256


def test_a_tampered_secret_build_is_rebuilt(tmp_path: Path) -> None:
    secret = init_secret(tmp_path / "deployment.secret")
    built = fetch_track_data(TRACK, tmp_path, progress=False, secret=secret)
    val = next(f for f in built if f.name == TRACK.dataset.val_file.name)
    val.path.write_bytes(val.path.read_bytes()[:-2] + b"\x00\x00")
    again = {f.name: f for f in fetch_track_data(TRACK, tmp_path, progress=False, secret=secret)}
    assert again[val.name].action == "built" and again[val.name].sha256 == val.sha256
