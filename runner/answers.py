"""The server's answers to the runner, typed: one frozen dataclass per route, read in one
place (`parse_*`). The server is semi-trusted, so an answer of the wrong shape (not JSON, a
field missing or of the wrong type) is a MalformedAnswerError naming the route and the field:
a refusal (asking again would not fix the server), never a KeyError deep inside the agent.
Fields the runner does not read are ignored, so the server may add some."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypeVar

from speedrun.errors import SpeedrunError

T = TypeVar("T")


class ServerRefusedError(SpeedrunError):
    """A 4xx answer; `code` is the problem's machine-readable code."""

    def __init__(self, status: int, code: str, detail: str) -> None:
        super().__init__(f"server refused ({status} {code}): {detail}")
        self.status, self.code, self.detail = status, code, detail


class MalformedAnswerError(ServerRefusedError):
    """A 2xx answer of the wrong shape: `route` (e.g. "claim"), `field` (a dotted path, e.g.
    "job.track.version"). A refusal, not retried: the same request would get the same answer
    (and a claim again would only lease another job this agent cannot use)."""

    def __init__(self, route: str, field: str, problem: str) -> None:
        detail = f"the {route} answer's {field}: {problem}"
        super().__init__(200, "malformed-answer", detail)
        self.args = (f"malformed server answer: {detail}",)
        self.route, self.field = route, field


# -- reading an answer ----------------------------------------------------------------------
_KINDS: dict[type, str] = {
    str: "text",
    int: "an integer",
    float: "a number",
    bool: "true or false",
    dict: "an object",
    list: "a list",
}


def _shown(value: object) -> str:
    """What was there instead, briefly (an answer may be large, and is not ours to echo)."""
    if value is None:
        return "null"
    text = repr(value)
    return f"{type(value).__name__} {text if len(text) <= 40 else text[:37] + '...'}"


class _Reader:
    """One JSON object of an answer, read field by field; a missing or mistyped field raises
    MalformedAnswerError with its dotted path."""

    def __init__(self, value: object, route: str, path: str = "") -> None:
        if not isinstance(value, dict):
            raise MalformedAnswerError(
                route, path or "body", f"expected an object, got {_shown(value)}"
            )
        self._doc: dict[str, object] = value
        self.route, self.path = route, path

    def _where(self, name: str) -> str:
        return f"{self.path}.{name}" if self.path else name

    def _bad(self, name: str, want: str, value: object) -> MalformedAnswerError:
        return MalformedAnswerError(
            self.route, self._where(name), f"expected {want}, got {_shown(value)}"
        )

    def _get(self, name: str, kind: type, *, optional: bool) -> Any:
        if name not in self._doc and not optional:
            raise MalformedAnswerError(self.route, self._where(name), "missing")
        value = self._doc.get(name)
        if value is None and optional:
            return None
        if kind is float and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)  # JSON has one kind of number: 3 is a float too
        if not isinstance(value, kind) or (kind is not bool and isinstance(value, bool)):
            raise self._bad(name, _KINDS[kind] + (" or null" if optional else ""), value)
        return value

    def text(self, name: str) -> str:
        value: str = self._get(name, str, optional=False)
        return value

    def opt_text(self, name: str) -> str | None:
        value: str | None = self._get(name, str, optional=True)
        return value

    def integer(self, name: str) -> int:
        value: int = self._get(name, int, optional=False)
        return value

    def opt_integer(self, name: str) -> int | None:
        value: int | None = self._get(name, int, optional=True)
        return value

    def flag(self, name: str) -> bool:
        value: bool = self._get(name, bool, optional=False)
        return value

    def number(self, name: str) -> float:
        value: float = self._get(name, float, optional=False)
        return value

    def opt_number(self, name: str) -> float | None:
        value: float | None = self._get(name, float, optional=True)
        return value

    def obj(self, name: str) -> _Reader:
        return _Reader(self._get(name, dict, optional=False), self.route, self._where(name))

    def opt_obj(self, name: str) -> _Reader | None:
        value = self._get(name, dict, optional=True)
        return None if value is None else _Reader(value, self.route, self._where(name))

    def _items(self, name: str, kind: type) -> tuple[Any, ...]:
        items: list[object] = self._get(name, list, optional=False)
        for i, item in enumerate(items):
            if not isinstance(item, kind) or isinstance(item, bool):
                raise self._bad(f"{name}[{i}]", _KINDS[kind], item)
        return tuple(items)

    def texts(self, name: str) -> tuple[str, ...]:
        return self._items(name, str)

    def integers(self, name: str) -> tuple[int, ...]:
        return self._items(name, int)

    def opt_time(self, name: str) -> datetime | None:
        """An ISO 8601 time; a naive one is UTC (the server stores naive UTC)."""
        text = self.opt_text(name)
        if text is None:
            return None
        try:
            stamp = datetime.fromisoformat(text)
        except ValueError:
            raise self._bad(name, "an ISO 8601 time", text) from None
        return stamp if stamp.tzinfo is not None else stamp.replace(tzinfo=UTC)


# -- the answers, one type per shape --------------------------------------------------------
@dataclass(frozen=True)
class TrackRef:
    id: str
    version: int

    @classmethod
    def read(cls, r: _Reader) -> TrackRef:
        return cls(id=r.text("id"), version=r.integer("version"))


@dataclass(frozen=True)
class Job:
    """A job's public view: the claim, heartbeat and complete answers, and a submission's."""

    id: int
    kind: str  # submission | reverify
    state: str  # PENDING | RUNNING | FINISHED | FAILED
    track: TrackRef
    attempt_id: int
    record_id: int | None
    variant_sha256: str
    baseline_sha256: str | None  # A/B jobs: the record's variant, run in pairs
    runs_total: int
    runs_done: tuple[str, ...]
    runs_remaining: int
    runner: str | None
    lease_expires_at: datetime | None  # aware (UTC when the server sent a naive time)
    reason: str | None

    @classmethod
    def read(cls, r: _Reader) -> Job:
        return cls(
            id=r.integer("id"),
            kind=r.text("kind"),
            state=r.text("state"),
            track=TrackRef.read(r.obj("track")),
            attempt_id=r.integer("attempt_id"),
            record_id=r.opt_integer("record_id"),
            variant_sha256=r.text("variant_sha256"),
            baseline_sha256=r.opt_text("baseline_sha256"),
            runs_total=r.integer("runs_total"),
            runs_done=r.texts("runs_done"),
            runs_remaining=r.integer("runs_remaining"),
            runner=r.opt_text("runner"),
            lease_expires_at=r.opt_time("lease_expires_at"),
            reason=r.opt_text("reason"),
        )

    def to_json(self) -> dict[str, object]:
        """The job as JSON (what the agent keeps beside a leased job's files)."""
        expires = self.lease_expires_at
        return {
            "id": self.id,
            "kind": self.kind,
            "state": self.state,
            "track": {"id": self.track.id, "version": self.track.version},
            "attempt_id": self.attempt_id,
            "record_id": self.record_id,
            "variant_sha256": self.variant_sha256,
            "baseline_sha256": self.baseline_sha256,
            "runs_total": self.runs_total,
            "runs_done": list(self.runs_done),
            "runs_remaining": self.runs_remaining,
            "runner": self.runner,
            "lease_expires_at": None if expires is None else expires.isoformat(),
            "reason": self.reason,
        }


@dataclass(frozen=True)
class JobLease:
    """A claim answer: the job (its public view), the lease, the job's nonce (for this agent
    alone: the runner signs `{"id", "nonce"}` into every bundle of the job, which is how the
    server knows the runs are the job's), the variant source and where to upload runs."""

    job: Job
    lease_id: str
    nonce: str
    source: str
    upload_url: str
    baseline_source: str | None = None  # A/B jobs: the record's variant, run in pairs

    @property
    def job_id(self) -> int:
        return self.job.id

    @property
    def job_ref(self) -> dict[str, int | str]:
        """The manifest's `job` block for this job's runs."""
        return {"id": self.job_id, "nonce": self.nonce}


@dataclass(frozen=True)
class RunBrief:
    """A stored run, briefly (the upload answer's `run`)."""

    run_id: str
    attempt_id: int
    purpose: str  # claim (a job's run) | reverify | unsolicited (outside any job)
    status: str  # as the server re-checked it
    official: bool
    counts: bool  # toward its attempt's record statistics
    time_ms: float | None
    val_loss: float | None
    url: str

    @classmethod
    def read(cls, r: _Reader) -> RunBrief:
        return cls(
            run_id=r.text("run_id"),
            attempt_id=r.integer("attempt_id"),
            purpose=r.text("purpose"),
            status=r.text("status"),
            official=r.flag("official"),
            counts=r.flag("counts"),
            time_ms=r.opt_number("time_ms"),
            val_loss=r.opt_number("val_loss"),
            url=r.text("url"),
        )


@dataclass(frozen=True)
class Ingested:
    """An upload answer (`POST /runs`, `POST /jobs/{id}/runs`); `created` is false when the
    bundle was already stored (an idempotent re-upload)."""

    created: bool
    run_id: str
    records_established: tuple[int, ...]
    warnings: tuple[str, ...]
    run: RunBrief


@dataclass(frozen=True)
class Health:
    status: str
    version: str


@dataclass(frozen=True)
class Submission:
    """A submission (`POST /submissions`, `GET /submissions/{id}`) with its job."""

    id: int
    track: TrackRef
    attempt_id: int
    variant_sha256: str
    job: Job
    attempt_url: str


@dataclass(frozen=True)
class Summary:
    """Mean and sample standard deviation over n values."""

    n: int
    mean: float
    std: float

    @classmethod
    def read(cls, r: _Reader | None) -> Summary | None:
        return (
            None if r is None else cls(n=r.integer("n"), mean=r.number("mean"), std=r.number("std"))
        )


@dataclass(frozen=True)
class AttemptStats:
    n_runs: int
    n_counted: int
    time_ms: Summary | None
    val_loss: Summary | None
    p_value: float | None
    qualifies: bool
    reason: str


@dataclass(frozen=True)
class Attempt:
    """An attempt (`GET /attempts/{id}`): its statistics and the record it made, if any."""

    id: int
    track: TrackRef
    record_id: int | None
    stats: AttemptStats


def parse_job(answer: object, route: str) -> Job:
    return Job.read(_Reader(answer, route))


def parse_lease(answer: object) -> JobLease:
    r = _Reader(answer, "claim")
    return JobLease(
        job=Job.read(r.obj("job")),
        lease_id=r.text("lease_id"),
        nonce=r.text("nonce"),
        source=r.text("source"),
        upload_url=r.text("upload_url"),
        baseline_source=r.opt_text("baseline_source"),
    )


def parse_ingested(answer: object, route: str = "upload") -> Ingested:
    r = _Reader(answer, route)
    return Ingested(
        created=r.flag("created"),
        run_id=r.text("run_id"),
        records_established=r.integers("records_established"),
        warnings=r.texts("warnings"),
        run=RunBrief.read(r.obj("run")),
    )


def parse_health(answer: object) -> Health:
    r = _Reader(answer, "health")
    return Health(status=r.text("status"), version=r.text("version"))


def parse_submission(answer: object) -> Submission:
    r = _Reader(answer, "submission")
    return Submission(
        id=r.integer("id"),
        track=TrackRef.read(r.obj("track")),
        attempt_id=r.integer("attempt_id"),
        variant_sha256=r.text("variant_sha256"),
        job=Job.read(r.obj("job")),
        attempt_url=r.text("attempt_url"),
    )


def parse_attempt(answer: object) -> Attempt:
    r = _Reader(answer, "attempt")
    s = r.obj("stats")
    stats = AttemptStats(
        n_runs=s.integer("n_runs"),
        n_counted=s.integer("n_counted"),
        time_ms=Summary.read(s.opt_obj("time_ms")),
        val_loss=Summary.read(s.opt_obj("val_loss")),
        p_value=s.opt_number("p_value"),
        qualifies=s.flag("qualifies"),
        reason=s.text("reason"),
    )
    return Attempt(
        id=r.integer("id"),
        track=TrackRef.read(r.obj("track")),
        record_id=r.opt_integer("record_id"),
        stats=stats,
    )
