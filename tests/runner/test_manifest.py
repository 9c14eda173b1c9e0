"""runner.manifest: the blocks the runner adds about itself and the data, and the bundle
written atomically: signed by the runner's key, readable, never left half-written."""

from __future__ import annotations

import re
import socket
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

import runner
from runner.manifest import data_block, runner_block, utc_now, write_bundle_file
from speedrun import signing
from speedrun.bundle import read_bundle, signed_payload
from speedrun.errors import BundleInvalid
from speedrun.tracks import get_track


def test_the_runner_block_names_its_key_version_and_host() -> None:
    key = Ed25519PrivateKey.generate()
    assert runner_block(key) == {
        "key_id": signing.key_id(key.public_key()),
        "version": runner.__version__,
        "host": socket.gethostname(),
    }


def test_the_data_block_lists_files_in_order() -> None:
    track = get_track("cpu-tiny")
    block = data_block(track, {"b.bin": "22", "a.bin": "11"})
    assert block["dataset"] == track.dataset.name and block["revision"] == track.dataset.revision
    assert list(block["files"]) == ["a.bin", "b.bin"]


def test_times_are_utc_with_microseconds() -> None:
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z", utc_now())


def test_the_bundle_is_signed_and_replaces_any_older_file(tmp_path: Path) -> None:
    key = Ed25519PrivateKey.generate()
    out = tmp_path / "bundles"
    manifest = {"schema_version": 1, "run_id": "r1"}
    path = write_bundle_file(out, "r1.bundle.tar.gz", manifest, {"log.txt": b"step:1\n"}, key)
    bundle = read_bundle(path.read_bytes())
    assert bundle.members == {"log.txt": b"step:1\n"} and bundle.manifest["run_id"] == "r1"
    signature = bundle.manifest["signature"]["value"]
    assert signing.verify(key.public_key(), signed_payload(bundle.manifest), signature)
    again = write_bundle_file(out, "r1.bundle.tar.gz", manifest, {"log.txt": b"other\n"}, key)
    assert read_bundle(again.read_bytes()).members == {"log.txt": b"other\n"}
    assert sorted(p.name for p in out.iterdir()) == ["r1.bundle.tar.gz"]  # no partial left


def test_a_bad_member_name_writes_nothing(tmp_path: Path) -> None:
    with pytest.raises(BundleInvalid, match="unsafe member name"):
        write_bundle_file(
            tmp_path, "x.bundle.tar.gz", {}, {"../escape": b""}, Ed25519PrivateKey.generate()
        )
    assert list(tmp_path.iterdir()) == []
