"""What a published snapshot was built from, row by row, and what changed since: the
dependency rule that lets a change rebuild only the pages it touches.

`read_state(session)` reads one `Entity` per run, attempt, record and submission: a `mark`
that moves whenever something its pages show moves, and the rows it hangs on (its track, its
attempt, the record it beat). `changes(before, now)` compares two states:

* a run: new or gone (runs never change once stored); its page and JSON also show the
  record its attempt became, so the runs of an attempt that became a record;
* an attempt: its statistics (`updated_at`, moved by every run that joins), name, runs,
  record;
* a record: its own mark (superseded, verification, figures) with its attempt's; and every
  record of a track whose set of records or rank figures moved (a record page shows its rank,
  and a new record, being the fastest, moves every other rank); and a record whose previous
  record changed (its page names and diffs against it);
* a submission: its job (state, lease, heartbeat, outcome), its attempt, or its track's
  current record (the verdict compares against it);
* a track (its boards, feed, the index): any record of it.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from server.models import Attempt, Job, Record, Run, Submission, Verification


@dataclass(frozen=True)
class Entity:
    mark: str  # moves whenever what the entity's pages show moves
    track: str  # track key (id@vN)
    attempt: int | None = None
    previous: int | None = None  # records: the record it beat
    figure: float | None = None  # records: the figure the board ranks by
    current: bool = False  # records: the track's current record


@dataclass
class SiteState:
    runs: dict[str, Entity] = field(default_factory=dict)
    attempts: dict[int, Entity] = field(default_factory=dict)
    records: dict[int, Entity] = field(default_factory=dict)
    submissions: dict[int, Entity] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {name: {str(k): asdict(v) for k, v in rows.items()} for name, rows in self._all()}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> SiteState:
        state = cls()
        for name, rows in state._all():
            for key, value in data.get(name, {}).items():
                rows[key if name == "runs" else int(key)] = Entity(**value)
        return state

    def _all(self) -> list[tuple[str, dict[Any, Entity]]]:
        return [
            ("runs", self.runs),
            ("attempts", self.attempts),
            ("records", self.records),
            ("submissions", self.submissions),
        ]


@dataclass
class Changes:
    runs: set[str] = field(default_factory=set)
    attempts: set[int] = field(default_factory=set)
    records: set[int] = field(default_factory=set)
    submissions: set[int] = field(default_factory=set)
    tracks: set[str] = field(default_factory=set)  # keys whose boards and feed changed

    def __bool__(self) -> bool:
        return bool(self.runs or self.attempts or self.records or self.submissions or self.tracks)


def _key(track_id: str, version: int) -> str:
    return f"{track_id}@v{version}"


def _mark(*parts: object) -> str:
    return "|".join("" if p is None else str(p) for p in parts)


def read_state(session: Session) -> SiteState:
    state = SiteState()
    record_of = dict(session.execute(select(Record.attempt_id, Record.id)).all())
    state.attempts = _attempts(session, record_of)
    for run_id, attempt_id in session.execute(select(Run.run_id, Run.attempt_id)):
        state.runs[run_id] = Entity("", state.attempts[attempt_id].track, attempt_id)
    state.records = _records(session, state.attempts)
    state.submissions = _submissions(session)
    return state


def _attempts(session: Session, record_of: dict[int, int]) -> dict[int, Entity]:
    runs = select(Run.attempt_id, func.count(), func.max(Run.id)).group_by(Run.attempt_id)
    counts = {a: (n, top) for a, n, top in session.execute(runs)}
    cols = (Attempt.id, Attempt.track_id, Attempt.track_version, Attempt.updated_at)
    query = select(*cols, Attempt.name, Attempt.description, Attempt.time_ms_mean)
    out = {}
    for a_id, track_id, version, updated, name, desc, mean in session.execute(query):
        mark = _mark(updated, name, desc, mean, counts.get(a_id), record_of.get(a_id))
        out[a_id] = Entity(mark, _key(track_id, version), a_id)
    return out


def _records(session: Session, attempts: dict[int, Entity]) -> dict[int, Entity]:
    checks = select(Verification.record_id, func.max(Verification.id))
    latest = dict(session.execute(checks.group_by(Verification.record_id)).all())
    query = select(Record, Attempt.time_ms_mean).join(Attempt, Attempt.id == Record.attempt_id)
    out = {}
    for r, mean in session.execute(query):
        figure = r.claimed_steps if r.claimed_steps is not None else r.claimed_time_ms
        figure = mean if figure is None else figure
        mark = _mark(r.established_at, r.superseded_at, latest.get(r.id), r.decision_json)
        out[r.id] = Entity(
            _mark(mark, attempts[r.attempt_id].mark),
            _key(r.track_id, r.track_version),
            r.attempt_id,
            r.previous_record_id,
            None if figure is None else float(figure),
            r.superseded_at is None,
        )
    return out


def _submissions(session: Session) -> dict[int, Entity]:
    job = (Job.state, Job.runner_id, Job.leased_at, Job.heartbeat_at, Job.lease_expires_at)
    query = (
        select(Submission.id, Submission.attempt_id, Submission.track_id)
        .add_columns(Submission.track_version, *job, Job.expiries, Job.reason, Job.finished_at)
        .join(Job, Job.id == Submission.job_id)
    )
    out = {}
    for sub_id, attempt_id, track_id, version, *rest in session.execute(query):
        out[sub_id] = Entity(_mark(*rest), _key(track_id, version), attempt_id)
    return out


def poll_stamp(session: Session) -> tuple[Any, ...]:
    """A few aggregates that move with almost every write (one query): the cheap test of
    whether `read_state` is worth reading again. The publisher still reads the state now and
    then whatever this says, for a write no aggregate here sees."""
    aggregates = (
        func.count(Run.id),
        func.max(Run.id),
        func.count(Record.id),
        func.max(Record.superseded_at),
        func.max(Attempt.updated_at),
        func.max(Verification.id),
        func.max(Submission.id),
        func.sum(Job.lease_seq),
        func.max(Job.heartbeat_at),
        func.max(Job.finished_at),
        func.sum(Job.expiries),
    )
    parts = [select(a).scalar_subquery() for a in aggregates]
    return tuple(session.execute(select(*parts)).one())


def _changed(before: dict[Any, Entity], now: dict[Any, Entity]) -> set[Any]:
    return {k for k in before.keys() | now.keys() if before.get(k) != now.get(k)}


def _board(records: dict[int, Entity], track: str) -> set[tuple[int, float | None]]:
    return {(i, r.figure) for i, r in records.items() if r.track == track}


def _current(records: dict[int, Entity], track: str) -> set[tuple[int, str]]:
    return {(i, r.mark) for i, r in records.items() if r.track == track and r.current}


def changes(before: SiteState, now: SiteState) -> Changes:
    """What moved between two states, by the rule in this module's docstring."""
    out = Changes(runs=_changed(before.runs, now.runs))
    out.attempts = _changed(before.attempts, now.attempts)
    records = _changed(before.records, now.records)
    everywhere = {**before.records, **now.records}
    out.tracks = {everywhere[i].track for i in records}
    ranks_moved = {t for t in out.tracks if _board(before.records, t) != _board(now.records, t)}
    records |= {i for i, r in now.records.items() if r.track in ranks_moved}
    records |= {i for i, r in now.records.items() if r.previous in records}
    out.records = records
    made = {a for a in out.attempts if _record_of(before, a) != _record_of(now, a)}
    out.runs |= {run for run, r in now.runs.items() if r.attempt in made}
    new_current = {t for t in out.tracks if _current(before.records, t) != _current(now.records, t)}
    out.submissions = _changed(before.submissions, now.submissions) | {
        s for s, e in now.submissions.items() if e.attempt in out.attempts or e.track in new_current
    }
    return out


def _record_of(state: SiteState, attempt: int) -> str | None:
    entity = state.attempts.get(attempt)
    return None if entity is None else entity.mark.rsplit("|", 1)[-1]
