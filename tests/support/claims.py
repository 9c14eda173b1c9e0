"""Record claims made the way the product makes them, for tests that need records.

Only runs of server-issued jobs count toward a record, so a test that wants one goes the
whole way: a submitter's token, the variant source submitted through `POST /submissions`,
the job claimed by a registered runner with a signed agent request (the claim answer carries
the job's nonce), bundles whose signed manifests carry `job = {"id", "nonce"}`, uploaded
through the job's route (`POST /jobs/{id}/runs?lease=...`), and the job completed.

`client` is anything with httpx's request API: FastAPI's TestClient, or an `httpx.Client`
with a `base_url` for a live server. Bundles are made by the caller (`make(job, index)`), so
server tests keep their hand-made figures and web tests their real runs (`with_job` signs a
job block into a bundle the real runner made, as the agent's runner would have).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from server.db import Database
from server.services.agent_auth import sign_request
from server.services.tokens import create_token
from speedrun.bundle import build_bundle, read_bundle

API = "/api/v1"
MakeBundle = Callable[[dict[str, Any], int], bytes]  # (job block, run index) -> bundle bytes


def submitter_token(db: Database, name: str = "alice") -> str:
    """A new API token for submitter `name` (created on first use)."""
    with db.write() as session:
        return create_token(session, name)[1]


def signed(client: Any, key: Ed25519PrivateKey, method: str, path: str, body: bytes = b"") -> Any:
    """An agent request signed with the runner's key."""
    headers = {**sign_request(key, method, path, body), "Content-Type": "application/json"}
    return client.request(method, path, content=body, headers=headers)


def submit(
    client: Any, token: str, source: str, track: str, description: str = "", **extra: Any
) -> dict[str, Any]:
    body = {"track": track, "source": source, "description": description, **extra}
    answer = client.post(
        f"{API}/submissions", json=body, headers={"Authorization": f"Bearer {token}"}
    )
    assert answer.status_code == 201, answer.text
    result: dict[str, Any] = answer.json()
    return result


def claim(client: Any, key: Ed25519PrivateKey) -> dict[str, Any]:
    """Lease the oldest pending job: the claim answer (job, lease_id, nonce, source, ...)."""
    answer = signed(client, key, "POST", f"{API}/jobs/claim")
    assert answer.status_code == 200, answer.text
    lease: dict[str, Any] = answer.json()
    return lease


def job_block(lease: dict[str, Any]) -> dict[str, Any]:
    """The manifest's `job` block for runs of the leased job."""
    return {"id": lease["job"]["id"], "nonce": lease["nonce"]}


def upload(client: Any, key: Ed25519PrivateKey, lease: dict[str, Any], bundle: bytes) -> Any:
    return signed(client, key, "POST", lease["upload_url"], bundle)


def complete(
    client: Any,
    key: Ed25519PrivateKey,
    lease: dict[str, Any],
    outcome: str = "finished",
    reason: str | None = None,
) -> dict[str, Any]:
    body = json.dumps({"lease_id": lease["lease_id"], "outcome": outcome, "reason": reason})
    path = f"{API}/jobs/{lease['job']['id']}/complete"
    answer = signed(client, key, "POST", path, body.encode())
    assert answer.status_code == 200, answer.text
    job: dict[str, Any] = answer.json()
    return job


@dataclass
class Claim:
    """One submission's job, run: the submission, the lease, and each upload's answer."""

    submission: dict[str, Any]
    lease: dict[str, Any]
    answers: list[dict[str, Any]] = field(default_factory=list)
    job: dict[str, Any] | None = None  # the job as completed (None when left running)

    @property
    def records(self) -> list[int]:
        """The records its uploads established."""
        return [r for a in self.answers for r in a["records_established"]]

    @property
    def attempt_id(self) -> int:
        return int(self.submission["attempt_id"])


def run_claim(
    client: Any,
    key: Ed25519PrivateKey,
    token: str,
    source: str,
    track: str,
    make: MakeBundle,
    *,
    runs: int | None = None,
    description: str = "",
    finish: bool = True,
) -> Claim:
    """Submit `source`, claim its job, upload `runs` bundles (default: the job's runs) made
    by `make(job block, index)`, and complete the job (finished when all its runs are in)."""
    sub = submit(client, token, source, track, description)
    lease = claim(client, key)
    assert lease["job"]["id"] == sub["job"]["id"], "another job was pending before this one"
    done = Claim(sub, lease)
    total = int(lease["job"]["runs_remaining"])
    for index in range(total if runs is None else runs):
        answer = upload(client, key, lease, make(job_block(lease), index))
        assert answer.status_code == 201, answer.text
        done.answers.append(answer.json())
    if finish:
        outcome = "finished" if len(done.answers) >= total else "failed"
        done.job = complete(client, key, lease, outcome, None if outcome == "finished" else "short")
    return done


def with_job(bundle: bytes, key: Ed25519PrivateKey, job: dict[str, Any]) -> bytes:
    """`bundle` with `job` in its manifest, signed again with the runner's key: what the
    runner writes when its agent passes the job (`RunOptions(job=...)`)."""
    read = read_bundle(bundle)
    manifest = {**read.manifest, "job": job}
    return build_bundle(manifest, read.members, key)
