"""server.services.manifest: what the server reads out of a verified manifest. Text and
numbers no database can hold are refused naming where; the hardware class comes from the
fingerprint; a run is official only from a record backend on the track's hardware with the
deployment's held-out commitment; the status is the server's own judgement of the rules."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from support.bundles import TRACK, make_bundle

from server.services.manifest import (
    check_values,
    hardware_of,
    is_official,
    judge,
    log_member,
    parse_time,
    run_columns,
)
from speedrun.bundle import read_bundle, verify_bundle
from speedrun.errors import BundleInvalid
from speedrun.manifest import Manifest
from speedrun.tracks import get_track

TINY = get_track(TRACK)


def typed(**fields: Any) -> Manifest:
    """The manifest of a real signed bundle, as verification hands it to the server."""
    bundle = read_bundle(make_bundle(Ed25519PrivateKey.generate(), **fields))
    return verify_bundle(bundle).manifest


@pytest.mark.parametrize(
    ("value", "where", "code"),
    [
        ({"a": [1.0, float("nan")]}, "manifest.a[1]", "bad-number"),
        ({"n": 2**64}, "manifest.n", "bad-number"),
        ({"s": "a\x00b"}, "manifest.s", "bad-text"),
        ({"s": "\ud800"}, "manifest.s", "bad-text"),
    ],
)
def test_values_no_database_can_hold_are_refused(value: Any, where: str, code: str) -> None:
    with pytest.raises(BundleInvalid, match=where.replace("[", r"\[").replace("]", r"\]")) as exc:
        check_values(value)
    assert exc.value.code == code
    check_values({"fine": ["text", 1, 2.5, None, True]})


def test_a_good_run_from_the_docker_backend_is_official() -> None:
    m = typed()
    klass, count = hardware_of(m, TINY)
    assert (klass, count) == ("cpu", TINY.hardware.count)
    assert is_official(m, klass, TINY, [])
    assert judge(m, TINY) == ("completed", None, [])


def test_local_runs_and_runs_without_the_secret_are_not_official() -> None:
    local = typed(backend="local")
    assert not is_official(local, "cpu", TINY, [])
    assert is_official(local, "cpu", TINY, ["local"])  # a deployment that allows it
    assert not is_official(typed(), "8xH100", TINY, [])  # other hardware


def test_a_completed_manifest_that_breaks_a_rule_is_judged_a_violation() -> None:
    m = typed(time_ms=1000.0)
    raw = dict(m.raw)
    raw["figures"] = {
        **raw["figures"],
        "self_reported_train_time_ms": 5000.0,
        "time_disagreement": 4.0,
    }
    status, reason, broken = judge(Manifest.from_json(raw), TINY)
    assert status == "rule_violation" and broken and reason


def test_the_log_member_and_times() -> None:
    assert (
        log_member(["variant/train_gpt.py", "eval.log", "log.txt"], "variant/train_gpt.py")
        == "log.txt"
    )
    assert log_member(["variant/x.txt", "b.txt", "a.log"], "variant/x.txt") == "a.log"
    assert log_member(["variant/x.py"], "variant/x.py") is None
    assert parse_time("2025-01-01T00:00:00.5Z", "started_at") == datetime(
        2025, 1, 1, 0, 0, 0, 500000, tzinfo=UTC
    )
    with pytest.raises(BundleInvalid, match="started_at is not an ISO 8601 time"):
        parse_time("yesterday", "started_at")


def test_run_columns_copy_the_manifest() -> None:
    m = typed(time_ms=1234.0, seed=7)
    cols = run_columns(m, TINY, [])
    assert (cols["run_id"], cols["track_id"], cols["track_version"]) == (
        m.run_id,
        TINY.id,
        TINY.version,
    )
    assert (cols["time_ms"], cols["seed"], cols["status"], cols["official"]) == (
        1234.0,
        7,
        "completed",
        True,
    )
    assert cols["log_member"] == "log.txt" and cols["violations_json"] is None
    assert cols["started_at"].tzinfo is not None
