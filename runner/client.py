"""HTTP client for the leaderboard server: uploads, submissions and signed agent calls.

Failures come in two kinds, and callers treat them differently:

    ServerRefusedError       the server answered 4xx with a problem document (code, detail):
                        retrying the same request cannot help
    ServerUnavailableError   no answer, a broken connection, 5xx, or 429 (rate limited: the
                             server's Retry-After says when): retry later

`with_retries` retries only the second kind, with capped exponential backoff, so an upload
can be repeated until the server acknowledges it; ingest is idempotent by the bundle's sha256,
which makes that safe.

Every answer comes back typed (runner.answers: one frozen dataclass per route), read in one
place: `parse_*`. The server is semi-trusted, so an answer of the wrong shape (not JSON, a
field missing or of the wrong type) is a MalformedAnswerError naming the route and the field:
a refusal (asking again would not fix the server), never a KeyError deep inside the agent.
Fields the runner does not read are ignored, so the server may add some.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any, TypedDict, TypeVar

import httpx
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from runner.answers import (
    Attempt,
    AttemptStats,
    Health,
    Ingested,
    Job,
    JobLease,
    MalformedAnswerError,
    RunBrief,
    ServerRefusedError,
    Submission,
    Summary,
    TrackRef,
    parse_attempt,
    parse_health,
    parse_ingested,
    parse_job,
    parse_lease,
    parse_submission,
)
from speedrun.agentauth import sign_request
from speedrun.errors import SpeedrunError

API = "/api/v1"

# The typed answers live in runner.answers; importers of this module still find them here.
__all__ = [
    "AgentEnvironment",
    "Attempt",
    "AttemptStats",
    "Health",
    "Ingested",
    "Job",
    "JobLease",
    "MalformedAnswerError",
    "RunBrief",
    "ServerClient",
    "ServerRefusedError",
    "ServerUnavailableError",
    "Submission",
    "Summary",
    "TrackRef",
    "parse_attempt",
    "parse_health",
    "parse_ingested",
    "parse_job",
    "parse_lease",
    "parse_submission",
    "with_retries",
]
T = TypeVar("T")


class ServerUnavailableError(SpeedrunError):
    """No usable answer (connection error, timeout, 5xx, 429); `retry_after_s` when the
    server said how long to wait."""

    def __init__(self, message: str, retry_after_s: float | None = None) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


class AgentEnvironment(TypedDict):
    """What an agent announces with each claim (the server's ClaimIn): its hardware decides
    which jobs it gets; its image and runner version, whether records are re-run."""

    accelerator: str  # cpu | cuda
    accelerator_count: int
    gpu_model: str | None
    image_digest: str | None
    runner_version: str


class ServerClient:
    def __init__(
        self,
        base_url: str,
        *,
        key: Ed25519PrivateKey | None = None,
        token: str | None = None,
        timeout_s: float = 120.0,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self._key = key
        self._token = token
        self._http = httpx.Client(
            base_url=self.base_url, timeout=timeout_s, transport=transport, trust_env=False
        )

    def close(self) -> None:
        self._http.close()

    def _send(
        self,
        method: str,
        path: str,
        body: bytes = b"",
        *,
        signed: bool = False,
        content_type: str = "application/json",
    ) -> httpx.Response:
        headers = {"Content-Type": content_type, "Accept": "application/json"}
        if signed:
            if self._key is None:
                raise SpeedrunError("this call needs the agent's signing key")
            headers |= sign_request(self._key, method, path, body)
        if self._token:
            headers["Authorization"] = f"Bearer {self._token}"
        try:
            response = self._http.request(method, path, content=body, headers=headers)
        except httpx.HTTPError as exc:
            raise ServerUnavailableError(f"{method} {self.base_url}{path}: {exc}") from None
        if response.status_code >= 500:
            raise ServerUnavailableError(f"{method} {path}: server error {response.status_code}")
        if response.status_code == 429:
            raise ServerUnavailableError(
                f"{method} {path}: rate limited", _retry_after(response.headers.get("Retry-After"))
            )
        if response.status_code >= 400:
            raise _refusal(response)
        return response

    def _json(
        self, route: str, method: str, path: str, payload: Any = None, *, signed: bool = False
    ) -> object:
        body = b"" if payload is None else json.dumps(payload).encode()
        response = self._send(method, path, body, signed=signed)
        return None if response.status_code == 204 else _decoded(response, route)

    # -- reads and uploads ----------------------------------------------------------------
    def health(self) -> Health:
        return parse_health(self._json("health", "GET", f"{API}/health"))

    def upload_bundle(self, data: bytes) -> Ingested:
        response = self._send("POST", f"{API}/runs", data, content_type="application/gzip")
        return parse_ingested(_decoded(response, "upload"), "upload")

    def submit(
        self, track: str, source: str, description: str, name: str | None = None
    ) -> Submission:
        payload: dict[str, str] = {"track": track, "source": source, "description": description}
        if name is not None:
            payload["name"] = name
        return parse_submission(self._json("submission", "POST", f"{API}/submissions", payload))

    def submission(self, submission_id: int) -> Submission:
        path = f"{API}/submissions/{submission_id}"
        return parse_submission(self._json("submission", "GET", path))

    def attempt(self, attempt_id: int) -> Attempt:
        return parse_attempt(self._json("attempt", "GET", f"{API}/attempts/{attempt_id}"))

    # -- agent calls, signed with the runner key --------------------------------------------
    def claim(self, environment: AgentEnvironment | None = None) -> JobLease | None:
        """Lease the oldest pending job; None when the queue is empty."""
        answer = self._json("claim", "POST", f"{API}/jobs/claim", environment, signed=True)
        return None if answer is None else parse_lease(answer)

    def heartbeat(self, job_id: int, lease_id: str) -> Job:
        """The job, its lease extended (`lease_expires_at`)."""
        payload = {"lease_id": lease_id}
        path = f"{API}/jobs/{job_id}/heartbeat"
        return parse_job(self._json("heartbeat", "POST", path, payload, signed=True), "heartbeat")

    def upload_job_run(self, job_id: int, lease_id: str, data: bytes) -> Ingested:
        path = f"{API}/jobs/{job_id}/runs?lease={lease_id}"
        response = self._send("POST", path, data, signed=True, content_type="application/gzip")
        return parse_ingested(_decoded(response, "job upload"), "job upload")

    def complete(self, job_id: int, lease_id: str, *, failed: bool, reason: str | None) -> Job:
        payload = {
            "lease_id": lease_id,
            "outcome": "failed" if failed else "finished",
            "reason": reason,
        }
        path = f"{API}/jobs/{job_id}/complete"
        return parse_job(self._json("complete", "POST", path, payload, signed=True), "complete")


def _decoded(response: httpx.Response, route: str) -> object:
    """A 2xx answer's JSON; not JSON at all is malformed too."""
    try:
        answer: object = response.json()
    except ValueError:
        raise MalformedAnswerError(route, "body", "not JSON") from None
    return answer


def _retry_after(value: str | None) -> float | None:
    """Retry-After in seconds (its HTTP-date form is not used by this server), capped."""
    try:
        return min(300.0, max(0.0, float(value))) if value else None
    except ValueError:
        return None


def _refusal(response: httpx.Response) -> ServerRefusedError:
    try:
        problem = response.json()
        code = str(problem.get("code") or "refused")
        detail = str(problem.get("detail") or problem.get("title") or response.text[:200])
    except (ValueError, AttributeError):
        code, detail = "refused", response.text[:200]
    return ServerRefusedError(response.status_code, code, detail)


def with_retries(
    call: Callable[[], T],
    *,
    deadline_s: float | None = None,
    first_delay_s: float = 0.5,
    max_delay_s: float = 10.0,
    on_retry: Callable[[ServerUnavailableError, float], None] | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> T:
    """`call()` until it does not raise ServerUnavailableError (or the deadline passes)."""
    started = time.monotonic()
    delay = first_delay_s
    while True:
        try:
            return call()
        except ServerUnavailableError as exc:
            if deadline_s is not None and time.monotonic() - started + delay > deadline_s:
                raise
            wait = max(delay, exc.retry_after_s or 0.0)
            if on_retry is not None:
                on_retry(exc, wait)
            sleep(wait)
            delay = min(max_delay_s, delay * 2)
