"""The server's answers to the runner's client, as the server writes them (server.schemas:
JobPublic, JobLease, IngestPublic, ...), and an httpx transport that plays them back in order:
the runner's client and agent are tested against these without a server (a real server drives
them in tests/server and tests/e2e)."""

from __future__ import annotations

import copy
from typing import Any

import httpx


def scripted(*answers: httpx.Response) -> tuple[httpx.MockTransport, list[httpx.Request]]:
    seen: list[httpx.Request] = []
    queue = list(answers)

    def handle(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return queue.pop(0)

    return httpx.MockTransport(handle), seen


def problem(status: int, code: str, **headers: str) -> httpx.Response:
    body = {"type": "about:blank", "code": code, "detail": f"{code} happened", "status": status}
    return httpx.Response(status, json=body, headers=headers)


# Answers as the server writes them (server.schemas: JobPublic, JobLease, IngestPublic, ...).
JOB: dict[str, Any] = {
    "id": 7,
    "kind": "submission",
    "state": "RUNNING",
    "track": {"id": "cpu-tiny", "version": 2},
    "attempt_id": 3,
    "record_id": None,
    "variant_sha256": "ab" * 32,
    "baseline_sha256": None,
    "runs_total": 4,
    "runs_done": ["r0"],
    "runs_remaining": 3,
    "runner": "agent",
    "leased_at": "2025-01-01T00:00:00",
    "heartbeat_at": None,
    "lease_expires_at": "2025-01-01T00:05:00",
    "expiries": 0,
    "reason": None,
    "created_at": "2025-01-01T00:00:00",
    "finished_at": None,
}
LEASE: dict[str, Any] = {
    "job": JOB,
    "lease_id": "L1",
    "nonce": "N1",
    "source": "print('hi')\n",
    "baseline_source": None,
    "upload_url": "/api/v1/jobs/7/runs?lease=L1",
}
RUN: dict[str, Any] = {
    "run_id": "r1",
    "attempt_id": 3,
    "origin": "verified",
    "purpose": "claim",
    "status": "completed",
    "official": True,
    "counts": True,
    "backend": "docker",
    "time_ms": 1234,
    "val_loss": 3.21,
    "url": "/api/v1/runs/r1",
}
INGESTED: dict[str, Any] = {
    "created": True,
    "run_id": "r1",
    "records_established": [],
    "warnings": [],
    "run": RUN,
}


def with_field(doc: dict[str, Any], path: str, value: Any) -> dict[str, Any]:
    """A deep copy of `doc` with the dotted `path` set to `value` (or removed: ...)."""
    out = copy.deepcopy(doc)
    *parents, last = path.split(".")
    node = out
    for name in parents:
        node = node[name]
    if value is ...:
        del node[last]
    else:
        node[last] = value
    return out
