"""`speedrun.bundle.verify_bundle` answers one typed `Verified`: the manifest as
`speedrun.manifest.Manifest` (built after the JSON Schema check), the track it ran on and the
warnings. The typed view must say what the JSON says, and the rules read from it must judge as
they did on the JSON (absent and null differ for `independent_val_loss`)."""

from __future__ import annotations

import json

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from support.bundles import LOSS, TRACK, make_bundle, manifest

from speedrun.bundle import Verified, read_bundle, verify_bundle
from speedrun.errors import BundleInvalid
from speedrun.manifest import AbSide, JobRef, Manifest
from speedrun.tracks import get_track

KEY = Ed25519PrivateKey.generate()


def verified(**fields: object) -> Verified:
    return verify_bundle(read_bundle(make_bundle(KEY, **fields)))


def test_the_verdict_holds_the_typed_manifest_its_track_and_warnings() -> None:
    job = {"id": 7, "nonce": "ab" * 16}
    ab = {"session_id": "s1", "role": "candidate", "pair_index": 2, "extra": "kept raw"}
    v = verified(job=job, ab=ab, backend="local")
    m, raw = v.manifest, v.bundle.manifest
    assert isinstance(m, Manifest) and m.raw is raw
    assert v.track is get_track(TRACK, raw["track"]["version"])
    assert (m.track.id, m.track.version) == (raw["track"]["id"], raw["track"]["version"])
    assert m.run_id == raw["run_id"] and m.backend == "local" and m.seed == 0
    assert m.exit.status == "completed" and m.exit.reason is None
    assert m.figures.val_loss == LOSS and m.figures.val_loss_source == "independently-evaluated"
    assert m.figures.has_independent_val_loss and m.figures.independent_val_loss == LOSS
    assert m.variant.path == "train_gpt.py" and m.variant.harness and m.variant.name == "variant"
    assert set(m.members) == set(raw["members"]) == {"train_gpt.py", "log.txt"}
    assert m.members["log.txt"].size_bytes == raw["members"]["log.txt"]["size_bytes"]
    assert m.job == JobRef(7, "ab" * 16)
    assert m.ab == AbSide("s1", "candidate", 2)
    assert m.fingerprint.image is not None and m.fingerprint.image.digest == "sha256:" + "ab" * 32
    assert m.fingerprint.hardware == {"cpu_count": 2}
    assert m.runner.key_id == v.key_id and m.signature.key_id == v.key_id
    assert m.timing is not None and m.timing.problems == () and m.timing.cap_exceeded is False
    assert m.evaluation is not None and m.evaluation.val_loss == LOSS
    assert not v.trusted
    assert any("does not count toward records" in w for w in v.warnings)


def test_a_null_independent_loss_differs_from_an_absent_one() -> None:
    m = manifest()
    del m["figures"]["independent_val_loss"]
    assert not verified(m=m).manifest.figures.has_independent_val_loss  # absent: no check
    m = json.loads(json.dumps(manifest()))
    m["figures"]["independent_val_loss"] = None
    with pytest.raises(BundleInvalid, match="independent_val_loss differs"):
        verified(m=m)


def test_an_unknown_track_is_refused_after_the_schema_and_members() -> None:
    m = manifest()
    m["track"] = {"id": "no-such-track", "version": 1}
    with pytest.raises(BundleInvalid) as err:
        verified(m=m)
    assert err.value.code == "unknown-track"
