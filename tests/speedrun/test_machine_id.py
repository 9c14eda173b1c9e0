"""A run's machine identity (speedrun.machine_id): the runner's key, the fingerprint's host
and the GPUs by UUID; stable across runs of one machine, different across machines."""

from __future__ import annotations

from typing import Any

from speedrun.machine_id import machine_key, machine_of


def _manifest(host: str | None = "node-a", key_id: str = "k1", gpus: list[Any] | None = None):
    hardware: dict[str, Any] = {"cpu_count": 2}
    if host is not None:
        hardware["host"] = host
    if gpus is not None:
        hardware["gpus"] = gpus
    return {"runner": {"key_id": key_id}, "fingerprint": {"hardware": hardware}}


def test_one_machine_one_key_and_another_host_another() -> None:
    a1, a2 = machine_key(_manifest()), machine_key(_manifest())
    assert a1 == a2 and a1.startswith("m-") and len(a1) == 18
    assert machine_key(_manifest(host="node-b")) != a1
    assert machine_key(_manifest(key_id="k2")) != a1  # another runner deployment


def test_gpus_by_uuid_whatever_their_order() -> None:
    one = _manifest(gpus=[{"uuid": "GPU-1"}, {"uuid": "GPU-2"}])
    same = _manifest(gpus=[{"uuid": "GPU-2"}, {"uuid": "GPU-1"}])
    swapped = _manifest(gpus=[{"uuid": "GPU-1"}, {"uuid": "GPU-3"}])
    assert machine_key(one) == machine_key(same)
    assert machine_key(swapped) != machine_key(one)
    assert machine_of(one).label == "node-a · 2 GPUs"


def test_old_and_malformed_fingerprints_fall_back_to_the_runner_key() -> None:
    bare = _manifest(host=None)
    assert machine_of(bare).label == "runner key k1"
    assert machine_key(bare) != machine_key(_manifest(host=None, key_id="k2"))
    odd = {"runner": "x", "fingerprint": {"hardware": {"host": 7, "gpus": ["a", {"uuid": 3}]}}}
    assert machine_of(odd).label == "unknown machine"
    assert machine_key({}) == machine_key(odd)  # nothing usable in either


def test_runner_host_when_the_fingerprint_has_none_and_labels_stay_short() -> None:
    m = {"runner": {"key_id": "k", "host": "edge-7"}, "fingerprint": {"hardware": {}}}
    assert machine_of(m).label == "edge-7"
    long = machine_of(_manifest(host="h" * 5000))
    assert len(long.label) == 80
