"""The `.bin` shard format: round trips, and every kind of broken file rejected by name."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from speedrun.data import shards
from speedrun.errors import ShardError


def header(magic: int = shards.SHARD_MAGIC, version: int = 1, count: int = 0) -> bytes:
    h = np.zeros(shards.HEADER_INTS, dtype="<i4")
    h[0], h[1], h[2] = magic, version, count
    return h.tobytes()


token_arrays = hnp.arrays(
    dtype=np.uint16,
    shape=st.integers(min_value=0, max_value=5000),
    elements=st.integers(0, shards.MAX_TOKEN_ID),
)


@settings(max_examples=60, deadline=None)
@given(tokens=token_arrays)
def test_round_trip_returns_the_same_tokens_and_digest(tmp_path_factory, tokens):
    path = tmp_path_factory.mktemp("rt") / "x.bin"
    digest = shards.write_shard(path, tokens)
    assert digest == hashlib.sha256(path.read_bytes()).hexdigest() == shards.sha256_file(path)
    assert path.stat().st_size == shards.HEADER_BYTES + 2 * tokens.size
    assert shards.read_header(path) == tokens.size
    back = shards.read_shard(path)
    assert back.dtype == np.uint16
    np.testing.assert_array_equal(back, tokens)
    assert not path.with_name("x.bin.partial").exists()
    assert [f.name for f in path.parent.iterdir()] == ["x.bin"]  # no temp file left


def test_empty_shard_round_trips(tmp_path):
    path = tmp_path / "empty.bin"
    shards.write_shard(path, np.zeros(0, dtype=np.uint16))
    assert shards.read_header(path) == 0
    assert shards.read_shard(path).size == 0


def test_header_is_little_endian_with_magic_version_count(tmp_path):
    path = tmp_path / "a.bin"
    shards.write_shard(path, np.array([1, 2, 65535], dtype=np.uint16))
    raw = path.read_bytes()
    assert raw[: shards.HEADER_BYTES] == header(count=3)
    assert raw[shards.HEADER_BYTES :] == bytes([1, 0, 2, 0, 255, 255])


def test_read_shard_is_read_only(tmp_path):
    path = tmp_path / "a.bin"
    shards.write_shard(path, np.arange(10, dtype=np.uint16))
    tokens = shards.read_shard(path)
    with pytest.raises(ValueError):
        tokens[0] = 7


@pytest.mark.parametrize(
    "bad", [np.array([-1]), np.array([65536]), np.zeros((2, 2), dtype=np.uint16)]
)
def test_write_rejects_tokens_that_do_not_fit(tmp_path, bad):
    with pytest.raises(ValueError):
        shards.write_shard(tmp_path / "bad.bin", bad)
    assert not (tmp_path / "bad.bin").exists()


BODY = np.arange(100, dtype="<u2").tobytes()

CORRUPT_CASES = {
    "wrong magic": (header(magic=20240519, count=100) + BODY, "wrong magic number 20240519"),
    "unknown version": (header(version=2, count=100) + BODY, "unknown shard version 2"),
    "truncated header": (header(count=100)[:1000], "truncated header: 1000 bytes"),
    "empty file": (b"", "truncated header: 0 bytes"),
    "truncated body": (header(count=100) + BODY[:-2], "truncated: header says 100 tokens"),
    "extra bytes": (header(count=100) + BODY + b"\0\0", "length mismatch: header says 100 tokens"),
    "odd extra byte": (header(count=100) + BODY + b"\0", "length mismatch"),
    "negative count": (header(count=-5) + BODY, "negative token count -5"),
}


@pytest.mark.parametrize("case", list(CORRUPT_CASES))
def test_corrupt_shard_is_rejected_naming_file_and_problem(tmp_path, case):
    content, problem = CORRUPT_CASES[case]
    path = tmp_path / "broken_000001.bin"
    path.write_bytes(content)
    for read in (shards.read_header, shards.read_shard):
        with pytest.raises(ShardError) as err:
            read(path)
        assert err.value.path == str(path)
        assert problem in err.value.problem
        assert str(path) in str(err.value) and problem in str(err.value)


def test_missing_file_is_rejected(tmp_path):
    path = tmp_path / "nope.bin"
    with pytest.raises(ShardError, match="file not found") as err:
        shards.read_shard(path)
    assert err.value.path == str(path)


def test_directory_is_rejected(tmp_path):
    with pytest.raises(ShardError, match="is a directory") as err:
        shards.read_shard(tmp_path)
    assert err.value.path == str(tmp_path)


def test_accepts_str_and_pathlike(tmp_path):
    path = tmp_path / "a.bin"
    shards.write_shard(str(path), [5, 6])
    assert list(shards.read_shard(str(path))) == [5, 6]
    assert list(shards.read_shard(Path(path))) == [5, 6]
