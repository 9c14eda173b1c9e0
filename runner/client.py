"""HTTP client for the leaderboard server: uploads, submissions and signed agent calls.

Failures come in two kinds, and callers treat them differently:

    ServerRefusedError       the server answered 4xx with a problem document (code, detail):
                        retrying the same request cannot help
    ServerUnavailableError   no answer, a broken connection, 5xx, or 429 (rate limited: the
                             server's Retry-After says when): retry later

`with_retries` retries only the second kind, with capped exponential backoff, so an upload
can be repeated until the server acknowledges it; ingest is idempotent by the bundle's sha256,
which makes that safe.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import httpx
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from speedrun.agentauth import sign_request
from speedrun.errors import SpeedrunError

API = "/api/v1"
T = TypeVar("T")


class ServerRefusedError(SpeedrunError):
    """A 4xx answer; `code` is the problem's machine-readable code."""

    def __init__(self, status: int, code: str, detail: str) -> None:
        super().__init__(f"server refused ({status} {code}): {detail}")
        self.status, self.code, self.detail = status, code, detail


class ServerUnavailableError(SpeedrunError):
    """No usable answer (connection error, timeout, 5xx, 429); `retry_after_s` when the
    server said how long to wait."""

    def __init__(self, message: str, retry_after_s: float | None = None) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


@dataclass(frozen=True)
class JobLease:
    """A claim answer: the job (its public view), the lease, the job's nonce (for this agent
    alone: the runner signs `{"id", "nonce"}` into every bundle of the job, which is how the
    server knows the runs are the job's), the variant source and where to upload runs."""

    job: dict[str, Any]
    lease_id: str
    nonce: str
    source: str
    upload_url: str
    baseline_source: str | None = None  # A/B jobs: the record's variant, run in pairs

    @property
    def job_id(self) -> int:
        return int(self.job["id"])

    @property
    def job_ref(self) -> dict[str, Any]:
        """The manifest's `job` block for this job's runs."""
        return {"id": self.job_id, "nonce": self.nonce}


def parse_lease(answer: Any) -> JobLease:
    """A claim answer's fields, checked; a malformed answer is refused (not retried: claiming
    again would only lease another job this agent cannot use)."""
    names = ("lease_id", "nonce", "source", "upload_url")
    job = answer.get("job") if isinstance(answer, dict) else None
    values = [answer.get(n) for n in names] if isinstance(answer, dict) else []
    if not isinstance(job, dict) or not isinstance(job.get("id"), int):
        raise ServerRefusedError(200, "bad-claim-answer", "the claim answer has no job with an id")
    if not all(isinstance(v, str) for v in values):
        raise ServerRefusedError(200, "bad-claim-answer", f"the claim answer lacks one of {names}")
    baseline = answer.get("baseline_source")
    if baseline is not None and not isinstance(baseline, str):
        raise ServerRefusedError(200, "bad-claim-answer", "baseline_source is not text")
    lease_id, nonce, source, url = (str(v) for v in values)
    return JobLease(job, lease_id, nonce, source, url, baseline)


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

    def _json(self, method: str, path: str, payload: Any = None, *, signed: bool = False) -> Any:
        body = b"" if payload is None else json.dumps(payload).encode()
        response = self._send(method, path, body, signed=signed)
        return None if response.status_code == 204 else response.json()

    # -- reads and uploads ----------------------------------------------------------------
    def health(self) -> dict[str, Any]:
        result: dict[str, Any] = self._json("GET", f"{API}/health")
        return result

    def upload_bundle(self, data: bytes) -> dict[str, Any]:
        response = self._send("POST", f"{API}/runs", data, content_type="application/gzip")
        result: dict[str, Any] = response.json()
        return result

    def submit(self, track: str, source: str, description: str) -> dict[str, Any]:
        payload = {"track": track, "source": source, "description": description}
        result: dict[str, Any] = self._json("POST", f"{API}/submissions", payload)
        return result

    def submission(self, submission_id: int) -> dict[str, Any]:
        result: dict[str, Any] = self._json("GET", f"{API}/submissions/{submission_id}")
        return result

    def attempt(self, attempt_id: int) -> dict[str, Any]:
        result: dict[str, Any] = self._json("GET", f"{API}/attempts/{attempt_id}")
        return result

    # -- agent calls, signed with the runner key --------------------------------------------
    def claim(self, environment: dict[str, Any] | None = None) -> JobLease | None:
        """Lease the oldest pending job; None when the queue is empty."""
        answer = self._json("POST", f"{API}/jobs/claim", environment, signed=True)
        return None if answer is None else parse_lease(answer)

    def heartbeat(self, job_id: int, lease_id: str) -> dict[str, Any]:
        payload = {"lease_id": lease_id}
        result: dict[str, Any] = self._json(
            "POST", f"{API}/jobs/{job_id}/heartbeat", payload, signed=True
        )
        return result

    def upload_job_run(self, job_id: int, lease_id: str, data: bytes) -> dict[str, Any]:
        path = f"{API}/jobs/{job_id}/runs?lease={lease_id}"
        response = self._send("POST", path, data, signed=True, content_type="application/gzip")
        result: dict[str, Any] = response.json()
        return result

    def complete(
        self, job_id: int, lease_id: str, *, failed: bool, reason: str | None
    ) -> dict[str, Any]:
        payload = {
            "lease_id": lease_id,
            "outcome": "failed" if failed else "finished",
            "reason": reason,
        }
        result: dict[str, Any] = self._json(
            "POST", f"{API}/jobs/{job_id}/complete", payload, signed=True
        )
        return result


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
