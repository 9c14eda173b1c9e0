"""Which machine ran a run: an identity read from the signed manifest, so statistics can
tell "five runs on one node" from "five runs on five nodes".

A machine is the runner deployment that signed the run (its key id) together with the host
its fingerprint names and, where the fingerprint lists GPUs, their UUIDs or serials (a GPU
swapped into the same host is another machine: clocks and power caps belong to the board).
Old manifests without a host or GPU list fall back to the key alone, which is what a
runner deployment meant before fingerprints carried more. The key is a short hash: stable,
the same in the runner, the server and a published snapshot, and free of anything a
reader could not already see in the manifest.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from speedrun.machine import as_mapping

KEY_PREFIX = "m-"
MAX_LABEL = 80  # a host name is free text in the fingerprint: the label stays short


@dataclass(frozen=True)
class Machine:
    key: str  # "m-" and 16 hex digits: what statistics group by and the JSON carries
    label: str  # for people: the host (or the runner key) and the accelerators


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _gpu_ids(hardware: Mapping[str, Any]) -> list[str]:
    """The GPUs' UUIDs (or serials) as nvidia-smi reports them, sorted: the order a
    fingerprint lists devices in is the driver's enumeration, not an identity."""
    gpus = hardware.get("gpus")
    if not isinstance(gpus, list):
        return []
    found = []
    for gpu in gpus:
        gpu = as_mapping(gpu)
        ident = _text(gpu.get("uuid")) or _text(gpu.get("serial"))
        if ident is not None:
            found.append(ident)
    return sorted(found)


def machine_of(manifest: Mapping[str, Any]) -> Machine:
    """The machine a manifest's run ran on (any mapping: missing parts are skipped)."""
    runner = as_mapping(manifest.get("runner"))
    hardware = as_mapping(as_mapping(manifest.get("fingerprint")).get("hardware"))
    key_id = _text(runner.get("key_id")) or ""
    host = _text(hardware.get("host")) or _text(runner.get("host"))
    gpus = _gpu_ids(hardware)
    parts = {"key_id": key_id, "host": host, "gpus": gpus}
    digest = hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()
    where = host or (f"runner key {key_id}" if key_id else "unknown machine")
    label = where[:MAX_LABEL] + (f" · {len(gpus)} GPU" + "s" * (len(gpus) != 1) if gpus else "")
    return Machine(KEY_PREFIX + digest[:16], label)


def machine_key(manifest: Mapping[str, Any]) -> str:
    return machine_of(manifest).key
