"""speedrun.bundle: building, reading in cost order, verifying signature first.

The hostile inputs here are what an anonymous client can send to `POST /api/v1/runs`: each
must be refused quickly, in bounded memory, with the reason named."""

from __future__ import annotations

import gzip
import io
import json
import shutil
import subprocess
import tarfile
import time
import tracemalloc
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from speedrun import signing
from speedrun.bundle import build_bundle, read_bundle, signed_payload, verify_bundle
from speedrun.errors import BundleError, BundleInvalid

KEY = Ed25519PrivateKey.generate()


def tar_gz(members: dict[str, bytes]) -> bytes:
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return gzip.compress(raw.getvalue())


def refused_fast(data: bytes, code: str, *, seconds: float = 0.5, mib: float = 16) -> str:
    """Read + verify `data`; it must be refused with `code`, within the time and memory
    (memory measured on a second pass: tracing allocations slows the first one down)."""
    started = time.monotonic()
    with pytest.raises(BundleInvalid) as err:
        verify_bundle(read_bundle(data))
    elapsed = time.monotonic() - started
    tracemalloc.start()
    with pytest.raises(BundleInvalid):
        verify_bundle(read_bundle(data))
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert err.value.code == code, err.value
    assert elapsed < seconds, elapsed
    assert peak < mib * 1024 * 1024, peak
    return str(err.value)


@pytest.mark.skipif(shutil.which("tar") is None, reason="GNU tar makes the sparse archive")
def test_a_sparse_member_bomb_is_refused_before_it_is_inflated(tmp_path: Path) -> None:
    """A GNU sparse file: ~100 bytes compressed, gigabytes once tarfile fills the holes."""
    big = tmp_path / "manifest.json"
    with open(big, "wb") as f:
        f.truncate(4 * 1024**3)
    archive = tmp_path / "bomb.tar.gz"
    subprocess.run(["tar", "-S", "-czf", str(archive), "-C", str(tmp_path), big.name], check=True)
    data = archive.read_bytes()
    assert len(data) < 2000
    assert "not a regular file" in refused_fast(data, "unsafe-member")


def test_declared_member_sizes_are_bounded_before_reading() -> None:
    """A header declaring 10 GB with nothing behind it: refused on the header alone."""
    info = tarfile.TarInfo("manifest.json")
    info.size = 10 * 1024**3
    data = gzip.compress(info.tobuf(format=tarfile.GNU_FORMAT) + bytes(1024))
    assert "declare more than" in refused_fast(data, "too-large", mib=2)


def test_links_and_devices_are_refused() -> None:
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w") as tar:
        info = tarfile.TarInfo("manifest.json")
        info.type, info.linkname = tarfile.SYMTYPE, "/etc/passwd"
        tar.addfile(info)
    with pytest.raises(BundleInvalid, match="not a regular file"):
        read_bundle(gzip.compress(raw.getvalue()))


def test_an_oversized_manifest_is_refused_unparsed() -> None:
    data = tar_gz({"manifest.json": b"[" * (2 * 1024 * 1024)})
    assert "over" in refused_fast(data, "too-large")


def test_a_deeply_nested_manifest_is_refused() -> None:
    data = tar_gz({"manifest.json": b"[" * 100_000 + b"]" * 100_000})
    with pytest.raises(BundleInvalid):
        read_bundle(data)


def bad_items_manifest(sign: bool) -> bytes:
    """708 bytes that expand to a manifest of 200,000 items, each a schema error."""
    m: dict[str, Any] = {"flags": [0] * 200_000, "members": {}, "signature": {}}
    if sign:
        public = KEY.public_key()
        m["signature"] = {
            "algorithm": "ed25519",
            "key_id": signing.key_id(public),
            "public_key": signing.public_key_b64(public),
            "value": "",
        }
        m["signature"]["value"] = signing.sign(KEY, signed_payload(m))
    return tar_gz({"manifest.json": json.dumps(m).encode()})


def test_an_unsigned_bad_manifest_costs_nothing_beyond_the_signature_check() -> None:
    data = bad_items_manifest(sign=False)
    assert len(data) < 2000
    assert "signature" in refused_fast(data, "bad-signature", seconds=0.5)


def test_a_self_signed_bad_manifest_reports_only_the_first_schema_error() -> None:
    """Offline `speedrun verify` trusts any key: the schema check must stay cheap too."""
    msg = refused_fast(bad_items_manifest(sign=True), "schema")
    assert msg.count("at ") == 1


def test_an_untrusted_key_is_refused_before_the_schema() -> None:
    other = Ed25519PrivateKey.generate().public_key()
    with pytest.raises(BundleInvalid) as err:
        verify_bundle(read_bundle(bad_items_manifest(sign=True)), trusted={"x": other})
    assert err.value.code == "unknown-key"


def test_a_truncated_or_foreign_file_is_unreadable() -> None:
    data = tar_gz({"manifest.json": b"{}"})
    for broken in (b"", b"PK\x03\x04", data[: len(data) // 2]):
        with pytest.raises(BundleError):
            read_bundle(broken)


def test_build_then_read_round_trips_byte_for_byte() -> None:
    members = {"log.txt": b"hello\n", "variant/train_gpt.py": b"print(1)\n"}
    m = {"kind": "speedrun-run", "figures": {"time_ms": 1.0}}
    first = build_bundle(m, members, KEY)
    assert build_bundle(m, members, KEY) == first  # deterministic
    bundle = read_bundle(first)
    assert bundle.members == members
    assert bundle.manifest["members"]["log.txt"]["size_bytes"] == 6
