"""Records and the leaderboard: rows built in bulk (a handful of queries for any number of
records), kept with the serialized answers in the one page cache (`server.services.cache`)."""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from dataclasses import dataclass
from typing import Any, NamedTuple

from sqlalchemy import ColumnElement, func, select
from sqlalchemy.orm import Session

from server.models import Attempt, Record, Run, User, Verification, utcnow
from server.problems import NotFound
from server.schemas.common import TrackRef
from server.schemas.compute import ConditionPublic, RecordComputePublic
from server.schemas.records import (
    BeatPublic,
    CostPublic,
    EvidencePublic,
    HardwareUsed,
    LeaderboardPublic,
    RecordEntry,
    RecordPublic,
    VerificationPublic,
)
from server.services import catalog, runners
from server.services.attempts import RunFigures, attempt_runs, compute_stats, stats_from_json
from server.services.cache import PageCache
from server.services.history import documents
from server.services.read_models import API, run_brief, summary_public, track_public
from speedrun.tracks import Track


class _RunRow(NamedTuple):
    """The few run columns a leaderboard row needs (tuples load far faster than objects)."""

    attempt_id: int
    runner_id: int | None
    status: str
    purpose: str
    time_ms: float | None
    val_loss: float | None
    official: bool
    val_loss_source: str
    hardware_class: str | None
    accelerator_count: int | None
    machine_key: str | None
    forward_flops_per_token: float | None
    training_flops: float | None
    mfu: float | None
    peak_source: str | None

    @property
    def figures(self) -> RunFigures:
        return RunFigures(
            self.time_ms,
            self.val_loss,
            self.status,
            self.official,
            self.val_loss_source,
            self.purpose,
            self.machine_key,
        )


_RUN_COLUMNS = [getattr(Run, name) for name in _RunRow._fields]


@dataclass
class _Context:
    attempts: dict[int, Attempt]
    runs: dict[int, list[_RunRow]]
    latest: dict[int, Verification]
    users: dict[int, str]
    runners: dict[int, str]


def _load(session: Session, records: list[Record]) -> _Context:
    ids = [r.attempt_id for r in records]
    attempts = {a.id: a for a in session.scalars(select(Attempt).where(Attempt.id.in_(ids)))}
    runs: dict[int, list[_RunRow]] = defaultdict(list)
    query = select(*_RUN_COLUMNS).where(Run.attempt_id.in_(ids)).order_by(Run.id)
    for row in session.execute(query):
        runs[row[0]].append(_RunRow(*row))
    latest: dict[int, Verification] = {}
    query = select(Verification).where(Verification.record_id.in_([r.id for r in records]))
    for v in session.scalars(query.order_by(Verification.id)):
        latest[v.record_id] = v
    users = {i: n for i, n in session.execute(select(User.id, User.name))}
    return _Context(attempts, runs, latest, users, runners.runner_names(session))


def verification_public(v: Verification, names: dict[int, str]) -> VerificationPublic:
    return VerificationPublic(
        id=v.id,
        status=v.status,
        n_runs=v.n_runs,
        time_ms_mean=v.time_ms_mean,
        time_ms_std=v.time_ms_std,
        val_loss_mean=v.val_loss_mean,
        p_value=v.p_value,
        image_digest=v.image_digest,
        runner=names.get(v.runner_id) if v.runner_id else None,
        job_id=v.job_id,
        detail=v.detail,
        cause=v.cause,
        conditions=[ConditionPublic(**c) for c in json.loads(v.conditions_json or "[]")],
        created_at=v.created_at,
    )


def _evidence(
    record: Record, official: bool, counted: list[_RunRow], ctx: _Context
) -> EvidencePublic:
    sources = {r.val_loss_source for r in counted}
    latest = ctx.latest.get(record.id)
    return EvidencePublic(
        origin=record.origin,
        runners=sorted({ctx.runners[r.runner_id] for r in counted if r.runner_id}),
        val_loss_source=sources.pop() if len(sources) == 1 else ("mixed" if sources else "none"),
        official=official,
        imported=record.origin == "imported",
        verification=verification_public(latest, ctx.runners) if latest else None,
    )


def _mean(values: list[float | None]) -> float | None:
    kept = [v for v in values if v is not None]
    return sum(kept) / len(kept) if kept else None


def _compute(counted: list[_RunRow]) -> RecordComputePublic | None:
    """Means over the counted runs that carry compute figures."""
    measured = [r for r in counted if r.forward_flops_per_token is not None]
    if not measured:
        return None
    sources = Counter(r.peak_source for r in measured if r.peak_source)
    return RecordComputePublic(
        runs=len(measured),
        forward_flops_per_token=_mean([r.forward_flops_per_token for r in measured]),
        training_flops=_mean([r.training_flops for r in measured]),
        train_tokens_source="self-reported",
        mfu=_mean([r.mfu for r in measured]),
        peak_source=sources.most_common(1)[0][0] if sources else None,
    )


def _entry(record: Record, rank: int, track: Track, ctx: _Context) -> RecordEntry:
    attempt = ctx.attempts[record.attempt_id]
    runs = ctx.runs.get(attempt.id, [])
    if attempt.stats_json:
        st = stats_from_json(attempt.stats_json)
    else:  # written before statistics were cached on the attempt
        st = compute_stats([r.figures for r in runs], track)
    counted = [r for r in runs if r.figures.counts]
    count = next((r.accelerator_count for r in counted if r.accelerator_count), None)
    mean_ms = st.time_ms.mean if st.time_ms else None
    hours = count * mean_ms / 3.6e6 if count and mean_ms is not None else None
    decision = json.loads(record.decision_json or "{}")
    beat = decision.get("beat") or {}
    return RecordEntry(
        rank=rank,
        record_id=record.id,
        status="superseded" if record.superseded_at else "current",
        origin=record.origin,
        track=TrackRef(id=record.track_id, version=record.track_version),
        attempt_id=attempt.id,
        variant_sha256=attempt.variant_sha256,
        name=attempt.name,
        description=attempt.description,
        submitter=ctx.users.get(attempt.submitter_id) if attempt.submitter_id else None,
        established_at=record.established_at,
        superseded_at=record.superseded_at,
        previous_record_id=record.previous_record_id,
        time_ms=summary_public(st.time_ms),
        val_loss=summary_public(st.val_loss),
        p_value=st.p_value,
        beat=BeatPublic(
            method=beat.get("method", record.origin),
            p_value=beat.get("p_value"),
            speedup=beat.get("speedup"),
            detail=beat.get("detail", ""),
        ),
        hardware=HardwareUsed(
            hardware_class=next((r.hardware_class for r in counted if r.hardware_class), None),
            accelerator_count=count,
        ),
        cost=CostPublic(accelerator_count=count, time_ms_mean=mean_ms, accelerator_hours=hours),
        compute=_compute(counted),
        machines=len({r.machine_key for r in counted if r.machine_key}),
        evidence=_evidence(record, st.official, counted, ctx),
        url=f"{API}/records/{record.id}",
        source_url=f"{API}/attempts/{attempt.id}/source" if attempt.source_sha256 else None,
        imported=documents.imported_public(record, mean_ms),
    )


def _rank_figure(record: Record, entry: RecordEntry, track: Track) -> float:
    """What a record is ranked by: its mean time; an imported record's claimed (README) time,
    or its claimed steps on a track ranked by steps. Missing figures rank last."""
    if track.ranked_by == "steps":
        figure: float | None = record.claimed_steps
    elif record.claimed_time_ms is not None:
        figure = record.claimed_time_ms
    else:
        figure = entry.time_ms.mean if entry.time_ms else None
    return float("inf") if figure is None else figure


def _ranked(records: list[Record], ctx: _Context, track: Track) -> list[RecordEntry]:
    pairs = [(r, _entry(r, 0, track, ctx)) for r in records]
    pairs.sort(key=lambda p: (_rank_figure(p[0], p[1], track), p[1].record_id))
    return [e.model_copy(update={"rank": i + 1}) for i, (_, e) in enumerate(pairs)]


def track_records(session: Session, track: Track) -> list[RecordEntry]:
    query = select(Record).where(Record.track_id == track.id, Record.track_version == track.version)
    records = list(session.scalars(query))
    return _ranked(records, _load(session, records), track) if records else []


def _rank_column(track: Track) -> ColumnElement[Any]:
    """`_rank_figure` in SQL."""
    if track.ranked_by == "steps":
        return Record.claimed_steps.expression
    return func.coalesce(Record.claimed_time_ms, Attempt.time_ms_mean)


def _rank(session: Session, record: Record, track: Track) -> int:
    """The record's place on its track, ordered as the leaderboard orders (its rank figure,
    then id; none last), counted in SQL instead of building the whole board."""
    tm = _rank_column(track)
    own = select(tm).join_from(Record, Attempt, Attempt.id == Record.attempt_id)
    figure = session.scalar(own.where(Record.id == record.id))
    if figure is None:
        ahead = tm.is_not(None) | (tm.is_(None) & (Record.id < record.id))
    else:
        ahead = (tm < figure) | ((tm == figure) & (Record.id < record.id))
    query = (
        select(func.count())
        .select_from(Record)
        .join(Attempt, Attempt.id == Record.attempt_id)
        .where(
            Record.track_id == record.track_id, Record.track_version == record.track_version, ahead
        )
    )
    return 1 + (session.scalar(query) or 0)


def record_public(session: Session, record_id: int) -> RecordPublic:
    record = session.get(Record, record_id)
    if record is None:
        raise NotFound("unknown-record", f"no record {record_id}")
    track = catalog.track(record.track_id, record.track_version)
    rank = _rank(session, record, track)
    ctx = _load(session, [record])
    entry = _entry(record, rank, track, ctx)
    names = runners.runner_names(session)
    query = (
        select(Verification).where(Verification.record_id == record.id).order_by(Verification.id)
    )
    return RecordPublic(
        **entry.model_dump(),
        runs=[run_brief(r, names) for r in attempt_runs(session, record.attempt_id)],
        verifications=[verification_public(v, ctx.runners) for v in session.scalars(query)],
    )


def raw_key(path: str, query: bytes) -> tuple[str, str]:
    """The cache key of a leaderboard answer: its path and query string as sent."""
    return ("leaderboard", f"{path}?{query.decode('latin-1')}")


def cached_records(session: Session, cache: PageCache, track: Track) -> list[RecordEntry]:
    """The track's ranked entries, built once per change stamp for the API and the pages."""
    return cache.get(session, ("records", track.key), lambda: track_records(session, track))


def leaderboard_body(
    session: Session, cache: PageCache, key: tuple[str, str], track: Track, limit: int, offset: int
) -> bytes:
    """A leaderboard answer, serialized (cached under `raw_key` of its request)."""

    def build() -> bytes:
        entries = cached_records(session, cache, track)
        page = LeaderboardPublic(
            track=track_public(track),
            total=len(entries),
            limit=limit,
            offset=offset,
            generated_at=utcnow(),
            entries=entries[offset : offset + limit],
        )
        return page.model_dump_json().encode("utf-8")

    return cache.get(session, key, build)
