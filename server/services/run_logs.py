"""A run's log as the pages show it, worked out once: the step curve (or why there is none)
and the head and tail of the text (and the runner's telemetry series, thinned by
server.services.telemetry), stored in `run_log_summaries` when the run is stored
(bundle ingest, history import), so a page view reads one small row instead of reading a
bundle and parsing a log. A run stored before that table existed gets its row on its first
view (the old way, once), in a short write of its own.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, replace
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from server.models import Run, RunLogSummary
from server.schemas.compute import TelemetrySeries
from server.schemas.runs import CurvePoint, CurvePublic
from server.services.blobs import get_blob
from server.services.telemetry import bundle_series
from speedrun.bundle import read_bundle
from speedrun.errors import SpeedrunError
from speedrun.logparse import ParsedRun, StepPoint, parse_log

log = logging.getLogger("server")


@dataclass(frozen=True)
class LogExcerpt:
    head: str
    tail: str  # empty unless the log was cut
    omitted_bytes: int
    total_bytes: int

    @property
    def cut(self) -> bool:
        return self.omitted_bytes > 0


def log_excerpt(text: str, *, head_bytes: int = 48_000, tail_bytes: int = 96_000) -> LogExcerpt:
    """The whole log when short; else its start (the code and versions a log opens with)
    and its end (the final steps and val loss), cut at line boundaries."""
    total = len(text.encode("utf-8"))
    if len(text) <= head_bytes + tail_bytes:
        return LogExcerpt(text, "", 0, total)
    head = text[:head_bytes]
    head = head[: head.rfind("\n") + 1] or head
    tail = text[-tail_bytes:]
    tail = tail[tail.find("\n") + 1 :] or tail
    omitted = total - len(head.encode("utf-8")) - len(tail.encode("utf-8"))
    return LogExcerpt(head, tail, omitted, total)


@dataclass(frozen=True)
class LogSummary:
    curve: CurvePublic | None
    curve_error: str | None  # why there is no curve
    excerpt: LogExcerpt | None  # None: no log text stored (or an empty one)
    telemetry: TelemetrySeries | None = None  # the runner's samples, thinned (ingest only)


def _points(points: tuple[StepPoint, ...]) -> list[CurvePoint]:
    return [
        CurvePoint(
            step=p.step, val_loss=p.val_loss, train_loss=p.train_loss, train_time_ms=p.train_time_ms
        )
        for p in points
    ]


def curve_of(parsed: ParsedRun) -> CurvePublic:
    return CurvePublic(
        format=parsed.format,
        total_steps=parsed.total_steps,
        val=_points(parsed.val_points),
        train=_points(parsed.train_points),
        warnings=list(parsed.warnings),
    )


def summarize_parsed(parsed: ParsedRun, text: str) -> LogSummary:
    """The summary of a run whose log was already parsed (the history importer's)."""
    return LogSummary(curve_of(parsed), None, log_excerpt(text) if text else None)


def summarize_text(text: str | None, source: str, run_index: int | None = None) -> LogSummary:
    """Parse `text` (a log file may hold several runs: `run_index` is 1-based, else the
    last) and cut its excerpt."""
    if text is None:
        return LogSummary(None, "no log stored for this run", None)
    excerpt = log_excerpt(text) if text else None
    try:
        parsed = parse_log(text, source=source)
    except SpeedrunError as exc:
        return LogSummary(None, str(exc), excerpt)
    if not parsed:
        return LogSummary(None, "the log holds no steps", excerpt)
    chosen = parsed[-1]
    if isinstance(run_index, int) and 0 < run_index <= len(parsed):
        chosen = parsed[run_index - 1]
    return LogSummary(curve_of(chosen), None, excerpt)


def bundle_log_text(members: dict[str, bytes], log_member: str | None) -> str | None:
    if log_member is None or log_member not in members:
        return None
    return members[log_member].decode("utf-8", errors="replace")


def store(session: Session, run: Run, summary: LogSummary) -> None:
    """Add the run's summary row (the run must have been flushed: it needs its id)."""
    curve = summary.curve
    val_curve = None if curve is None else curve.model_copy(update={"train": []})
    session.add(
        RunLogSummary(
            run_pk=run.id,
            curve_json=None if curve is None else curve.model_dump_json(),
            val_curve_json=None if val_curve is None else val_curve.model_dump_json(),
            curve_error=summary.curve_error,
            excerpt_json=None if summary.excerpt is None else json.dumps(asdict(summary.excerpt)),
            telemetry_json=None
            if summary.telemetry is None
            else summary.telemetry.model_dump_json(),
        )
    )


Curve = tuple[CurvePublic | None, str | None]  # the step curve, or why there is none
_MEMO = "run_logs"  # session.info key: summaries worked out in this session (see _backfill)


def curves(session: Session, runs: Sequence[Run], *, train: bool = True) -> dict[int, Curve]:
    """The stored step curves of `runs`, by run id (primary key); without `train`, only
    their val points (what charts draw: a small fraction of the curve to decode)."""
    ids = [r.id for r in runs]
    column = RunLogSummary.curve_json if train else RunLogSummary.val_curve_json
    query = select(RunLogSummary.run_pk, column, RunLogSummary.curve_error)
    found: dict[int, Curve] = {}
    for pk, curve_json, error in session.execute(query.where(RunLogSummary.run_pk.in_(ids))):
        curve = None if curve_json is None else CurvePublic.model_validate_json(curve_json)
        found[pk] = (curve, error)
    for run in runs:
        if run.id not in found:
            made = _backfill(session, run)
            found[run.id] = (made.curve, made.curve_error)
    return found


ValPoint = tuple[int, float, float | None]  # (step, val loss, train time in ms)
ChartCurve = tuple[list[ValPoint] | None, str | None]  # the val points, or why there are none


def chart_curve(curve: Curve) -> ChartCurve:
    """A step curve's val points, as charts draw them (or why there are none)."""
    steps, error = curve
    if steps is None:
        return None, error
    return [
        (p.step, p.val_loss, p.train_time_ms) for p in steps.val if p.val_loss is not None
    ], error


def chart_curves(session: Session, runs: Sequence[Run]) -> dict[int, ChartCurve]:
    """The stored val points of `runs`, by run id, decoded as plain tuples: a record of 200
    runs of 5,000 val points each decodes in a fraction of a second this way, where
    validating them into `CurvePoint` models (`curves`) takes seconds. The rows are this
    module's own `CurvePublic` JSON. Runs stored without a summary get one as `curves` does."""
    query = select(RunLogSummary.run_pk, RunLogSummary.val_curve_json, RunLogSummary.curve_error)
    found: dict[int, ChartCurve] = {}
    for pk, curve_json, error in session.execute(
        query.where(RunLogSummary.run_pk.in_([r.id for r in runs]))
    ):
        found[pk] = (None if curve_json is None else _val_tuples(curve_json), error)
    missing = [r for r in runs if r.id not in found]
    if missing:
        found.update(
            (pk, chart_curve(c)) for pk, c in curves(session, missing, train=False).items()
        )
    return found


def _val_tuples(curve_json: str) -> list[ValPoint]:
    points: list[dict[str, Any]] = json.loads(curve_json).get("val") or []
    return [
        (int(p["step"]), float(p["val_loss"]), p.get("train_time_ms"))
        for p in points
        if p.get("val_loss") is not None
    ]


def excerpt(session: Session, run: Run) -> LogExcerpt | None:
    """The stored head and tail of the run's log (None: no log text)."""
    query = select(RunLogSummary.run_pk, RunLogSummary.excerpt_json)
    row = session.execute(query.where(RunLogSummary.run_pk == run.id)).first()
    if row is None:
        return _backfill(session, run).excerpt
    return None if row[1] is None else LogExcerpt(**json.loads(row[1]))


def telemetry(session: Session, run: Run) -> TelemetrySeries | None:
    """The run's stored telemetry series (None: its bundle had no telemetry member)."""
    query = select(RunLogSummary.run_pk, RunLogSummary.telemetry_json)
    row = session.execute(query.where(RunLogSummary.run_pk == run.id)).first()
    if row is None:
        return _backfill(session, run).telemetry
    return None if row[1] is None else TelemetrySeries.model_validate_json(row[1])


def _backfill(session: Session, run: Run) -> LogSummary:
    """The summary of a run stored before summaries were: worked out from its log once,
    stored in a short write of its own, and kept for the rest of this session (whose
    snapshot may not see that write)."""
    memo: dict[int, LogSummary] = session.info.setdefault(_MEMO, {})
    if run.id in memo:
        return memo[run.id]
    text, source, index, members = _stored_log(session, run)
    made = summarize_text(text, source, index)
    if members is not None:  # the bundle is read anyway: its telemetry member too
        made = replace(made, telemetry=bundle_series(json.loads(run.manifest_json), members))
    memo[run.id] = made
    db = session.info.get("db")
    if db is not None:
        try:
            with db.write() as writer:
                store(writer, run, made)
        except IntegrityError:
            pass  # another request stored it first: the same summary
    return made


StoredLog = tuple[str | None, str, int | None, Mapping[str, bytes] | None]


def _stored_log(session: Session, run: Run) -> StoredLog:
    """(log text, source name for parse messages, run index within the file, the bundle's
    members when it was read)."""
    index = json.loads(run.manifest_json).get("run_index") if run.origin == "imported" else None
    source = run.log_member or run.run_id
    if run.log_sha256 is not None:
        blob = get_blob(session, run.log_sha256)
        text = None if blob is None else blob.data.decode("utf-8", errors="replace")
        return text, source, index, None
    bundle = get_blob(session, run.bundle_sha256) if run.bundle_sha256 else None
    if bundle is None or run.log_member is None:
        return None, source, index, None
    try:
        members = read_bundle(bundle.data, max_bytes=1 << 31).members
    except SpeedrunError as exc:
        log.warning("run %s: stored bundle unreadable: %s", run.run_id, exc)
        return None, source, index, None
    return bundle_log_text(members, run.log_member), source, index, members
