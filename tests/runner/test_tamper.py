"""Tampering: any change to a member's bytes or to a manifest field makes verify fail;
bundles from unknown keys, truncated files and non-archives fail with the right exit code."""

from __future__ import annotations

import gzip
import io
import json
import tarfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from runner_helpers import Session, cli, load

from speedrun import signing
from speedrun.bundle import build_bundle, read_bundle, verify_bundle
from speedrun.errors import BundleError, BundleInvalid

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def original(tiny_local_runs: Session) -> Path:
    return tiny_local_runs.bundles[0]


def repack(manifest: dict[str, Any] | bytes, members: dict[str, bytes]) -> bytes:
    """A bundle with exactly this manifest and these members, signed by nobody."""
    body = manifest if isinstance(manifest, bytes) else json.dumps(manifest).encode()
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name, data in [("manifest.json", body), *members.items()]:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return gzip.compress(raw.getvalue(), mtime=0)


def verdict(data: bytes, trusted: dict[str, Any] | None = None) -> int:
    """0 valid, 3 invalid, 4 unreadable: as `speedrun verify` exits."""
    try:
        verify_bundle(read_bundle(data), trusted=trusted)
    except BundleInvalid:
        return 3
    except BundleError:
        return 4
    return 0


def positions(size: int, samples: int = 48) -> list[int]:
    if size <= samples:
        return list(range(size))
    step = size / samples
    return sorted({0, size - 1, *(int(i * step) for i in range(samples))})


def test_the_untouched_bundle_verifies(original: Path) -> None:
    bundle = load(original)
    assert verdict(repack(bundle.manifest, bundle.members)) == 0


def test_any_changed_byte_of_any_member_fails(original: Path) -> None:
    bundle = load(original)
    assert set(bundle.members) >= {"log.txt", "events.jsonl", "eval.json", "config.json"}
    tried = 0
    for name, data in bundle.members.items():
        for pos in positions(len(data)):
            changed = bytearray(data)
            changed[pos] ^= 0x01
            members = {**bundle.members, name: bytes(changed)}
            assert verdict(repack(bundle.manifest, members)) == 3, (name, pos)
            tried += 1
    assert tried > 200


def leaves(obj: Any, path: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    if isinstance(obj, dict):
        for key, value in obj.items():
            yield from leaves(value, (*path, key))
    elif isinstance(obj, list):
        for index, value in enumerate(obj):
            yield from leaves(value, (*path, index))
    else:
        yield path


def altered(value: Any) -> Any:
    if isinstance(value, bool):
        return not value
    if isinstance(value, int | float):
        return value + 1
    if isinstance(value, str):
        return value[:-1] + ("0" if value[-1:] != "0" else "1") if value else "x"
    return 0  # None


def test_any_changed_manifest_field_fails(original: Path) -> None:
    bundle = load(original)
    paths = list(leaves(bundle.manifest))
    assert len(paths) > 60
    for path in paths:
        manifest = json.loads(json.dumps(bundle.manifest))
        node = manifest
        for key in path[:-1]:
            node = node[key]
        node[path[-1]] = altered(node[path[-1]])
        assert verdict(repack(manifest, bundle.members)) == 3, path


def test_added_removed_and_unlisted_members_fail(original: Path) -> None:
    bundle = load(original)
    assert verdict(repack(bundle.manifest, {**bundle.members, "extra.txt": b"hi"})) == 3
    fewer = dict(bundle.members)
    del fewer["eval.json"]
    assert verdict(repack(bundle.manifest, fewer)) == 3
    manifest = json.loads(json.dumps(bundle.manifest))
    manifest["note"] = "added after signing"
    assert verdict(repack(manifest, bundle.members)) == 3


def test_unknown_and_substituted_keys_fail(
    original: Path, runner_key: Path, tmp_path: Path
) -> None:
    stranger = tmp_path / "stranger.key"
    signing.init_keypair(stranger)
    code, _, err = cli("verify", str(original), "--pubkey", str(stranger) + ".pub")
    assert code == 3 and "not a trusted runner key" in err
    # an attacker re-signs a doctored manifest with their own key: valid by itself...
    bundle = load(original)
    doctored = json.loads(json.dumps(bundle.manifest))
    doctored["figures"]["time_ms"] = 1.0
    doctored["runner"]["key_id"] = signing.key_id(signing.load_private_key(stranger).public_key())
    forged = tmp_path / "forged.tar.gz"
    forged.write_bytes(build_bundle(doctored, bundle.members, signing.load_private_key(stranger)))
    assert cli("verify", str(forged))[0] == 0
    # ...but not against the runner's key
    code, _, err = cli("verify", str(forged), "--pubkey", str(runner_key) + ".pub")
    assert code == 3 and "not a trusted runner key" in err


def test_truncated_bundles_are_unreadable(original: Path, tmp_path: Path) -> None:
    data = original.read_bytes()
    for cut in sorted(
        {0, 1, 2, 10, 100, len(data) // 2, len(data) - 9, len(data) - 4, len(data) - 1}
    ):
        path = tmp_path / f"cut{cut}.tar.gz"
        path.write_bytes(data[:cut])
        code, out, err = cli("verify", str(path))
        assert code == 4, (cut, err)
        assert out == "" and ("truncated" in err or "not a" in err or "empty" in err), err


def test_verify_json_prints_manifest_and_verdict(original: Path) -> None:
    code, out, _ = cli("verify", str(original), "--json")
    assert code == 0
    data = json.loads(out)
    assert data["verdict"]["valid"] is True and data["manifest"]["run_id"]
    bundle = load(original)
    bad = bytearray(bundle.members["log.txt"])
    bad[0] ^= 1
    path = original.parent.parent / "tampered-json.tar.gz"
    path.write_bytes(repack(bundle.manifest, {**bundle.members, "log.txt": bytes(bad)}))
    code, out, err = cli("verify", str(path), "--json")
    assert code == 3 and "does not match its sha256" in err
    data = json.loads(out)
    assert data["verdict"] == {
        "valid": False,
        "readable": True,
        "code": "tampered",
        "reason": "member 'log.txt' does not match its sha256",
    }


def test_a_signed_loss_must_match_the_evaluation_block(original: Path, runner_key: Path) -> None:
    """Even correctly signed (a buggy or doctored runner), the figure that counts must be the
    evaluator's."""
    bundle = load(original)
    doctored = json.loads(json.dumps(bundle.manifest))
    doctored["figures"]["val_loss"] = doctored["figures"]["independent_val_loss"] = 1.0
    data = build_bundle(doctored, bundle.members, signing.load_private_key(runner_key))
    with pytest.raises(BundleInvalid, match="differs from the evaluation block"):
        verify_bundle(read_bundle(data))


def test_flags_surface_as_warnings(original: Path, runner_key: Path) -> None:
    bundle = load(original)
    flagged = json.loads(json.dumps(bundle.manifest))
    flagged["flags"] = ["time-disagreement: runner 10 ms, script says 1 ms (+90.0%)"]
    data = build_bundle(flagged, bundle.members, signing.load_private_key(runner_key))
    warnings = verify_bundle(read_bundle(data)).warnings
    assert "flag: time-disagreement: runner 10 ms, script says 1 ms (+90.0%)" in warnings
