"""The leaderboard pages' view models: a track's ranked records (the API's entries, in the
API's order) with evidence badges, the cost of each, an evidence filter, pagination and the
progression chart. Everything here reads; the routes only pick a template.
"""

from __future__ import annotations

from dataclasses import dataclass

from markupsafe import Markup
from sqlalchemy.orm import Session

from server.config import Settings
from server.schemas.records import RecordEntry
from server.schemas.tracks import TrackPublic
from server.services import catalog, leaderboard, read_models
from server.services.cache import PageCache
from speedrun.tracks import Track
from web.charts import ProgressPoint, duration_ticks, log_ticks, progression_svg
from web.format import fmt_duration_s, fmt_steps
from web.pages.compute import flops_chart

MAIN_TRACK = "gpt2-124m-8xh100"
PAGE_SIZE = 100
INDEX_ROWS = 10
INDEPENDENT = "independently-evaluated"

EVIDENCE_LEVELS = {
    "all": "every record",
    "signed": "signed by a registered runner",
    "independent": "loss independently evaluated",
    "reverified": "re-verified: reproduced",
    "self-reported": "self-reported loss",
    "imported": "imported history",
}


@dataclass(frozen=True)
class Badge:
    kind: str  # a CSS class: signed, independent, reverified, drifted, never, imported, ...
    label: str
    title: str  # the longer explanation (tooltip and screen-reader text)


@dataclass(frozen=True)
class Price:
    per_hour: float
    currency: str
    unit: str  # "GPU-hour" | "CPU-process-hour"
    setting: str  # the environment variable that sets it

    def cost(self, accelerator_hours: float | None) -> float | None:
        return None if accelerator_hours is None else accelerator_hours * self.per_hour


def price_for(track: Track, settings: Settings) -> Price:
    if track.hardware.accelerator == "cuda":
        return Price(
            settings.price_per_accel_hour,
            settings.price_currency,
            "GPU-hour",
            "SPEEDRUN_PRICE_PER_ACCEL_HOUR",
        )
    return Price(
        settings.price_per_cpu_hour,
        settings.price_currency,
        "CPU-process-hour",
        "SPEEDRUN_PRICE_PER_CPU_HOUR",
    )


def badges(e: RecordEntry) -> list[Badge]:
    """What vouches for a record, one badge per kind of evidence."""
    ev, out = e.evidence, []
    if ev.imported:
        out.append(Badge("imported", "imported history", "from the speedrun's README and logs"))
    if ev.runners:
        names = ", ".join(ev.runners)
        out.append(Badge("signed", f"signed by {names}", "bundles signed by registered runners"))
    elif not ev.imported:
        out.append(Badge("unsigned", "unsigned", "no registered runner signed these runs"))
    if ev.val_loss_source == INDEPENDENT:
        out.append(
            Badge("independent", "independently evaluated", "val loss computed by the runner")
        )
    elif ev.val_loss_source in ("self-reported", "mixed"):
        out.append(Badge("self", "self-reported", "val loss as the training script printed it"))
    if not ev.imported or ev.verification is not None:  # history is never re-run here
        out.append(_verification_badge(e))
    if not ev.official and not ev.imported:
        out.append(Badge("unofficial", "unofficial", "not run on a record backend"))
    return out


def _verification_badge(e: RecordEntry) -> Badge:
    v = e.evidence.verification
    if v is None:
        return Badge("never", "never re-verified", "no re-run of this record yet")
    day = v.created_at.strftime("%Y-%m-%d")
    image = f" with image {v.image_digest}" if v.image_digest else ""
    if v.status == "reproduced":
        short = f" · {v.image_digest.removeprefix('sha256:')[:12]}" if v.image_digest else ""
        return Badge("reverified", f"re-verified {day}{short}", f"reproduced on {day}{image}")
    if v.status == "drifted" and v.cause:
        why = f"slower than the record's band on a machine with {v.cause}"
        return Badge("drifted", f"{v.verdict} {day}", f"re-run on {day}{image} was {why}")
    if v.status == "drifted":
        return Badge("drifted", f"drifted {day}", f"re-run on {day}{image} did not reproduce")
    return Badge("failed", f"re-run failed {day}", f"re-run on {day}{image} failed")


def matches(e: RecordEntry, evidence: str) -> bool:
    ev = e.evidence
    v = ev.verification
    return {
        "all": True,
        "signed": bool(ev.runners),
        "independent": ev.val_loss_source == INDEPENDENT,
        "reverified": v is not None and v.status == "reproduced",
        "self-reported": ev.val_loss_source in ("self-reported", "mixed"),
        "imported": ev.imported,
    }.get(evidence, True)


@dataclass(frozen=True)
class Row:
    e: RecordEntry
    badges: list[Badge]
    cost: float | None
    claimed_ms: float | None  # imported history: the README's time (what the API ranks by)
    steps: int | None  # imported history: the README's steps to the target

    @property
    def figure(self) -> float | None:
        """What the row is ranked by, in seconds (or steps): the progression chart's y."""
        if self.steps is not None:
            return float(self.steps)
        if self.claimed_ms is not None:
            return self.claimed_ms / 1000
        return self.e.time_ms.mean / 1000 if self.e.time_ms else None


@dataclass(frozen=True)
class Board:
    track: Track
    public: TrackPublic
    rows: list[Row]  # this page's rows
    total: int  # records on the track version
    matching: int  # records passing the evidence filter
    current: Row | None
    evidence: str
    page: int
    pages: int
    price: Price
    chart: Markup
    flops_chart: Markup  # time against training FLOPs (empty: no record measured compute)
    json_url: str
    page_url: str


def row_of(e: RecordEntry, price: Price) -> Row:
    claim = getattr(e, "imported", None)  # what the README says of an imported record
    return Row(
        e,
        badges(e),
        price.cost(e.cost.accelerator_hours),
        getattr(claim, "claimed_time_ms", None),
        getattr(claim, "claimed_steps", None),
    )


def progression_chart(track: Track, rows: list[Row], chart_id: str) -> Markup:
    by_steps = track.ranked_by == "steps"
    points = [
        ProgressPoint(
            r.e.established_at,
            r.figure or 0.0,
            r.e.name or r.e.variant_sha256[:12],
            r.e.status == "current",
        )
        for r in rows
    ]
    what = "steps to the target" if by_steps else "training time"
    return progression_svg(
        points,
        chart_id=chart_id,
        title=f"Record progression on {track.key}: {what} against date (log scale)",
        desc=(
            f"{len(points)} records; the line is the best so far, held until a better one. "
            "The table of records lists the same figures."
        ),
        y_label="steps" if by_steps else "training time",
        y_format=fmt_steps if by_steps else fmt_duration_s,
        y_ticks=log_ticks if by_steps else duration_ticks,
    )


def board_rows(session: Session, cache: PageCache, track: Track, price: Price) -> list[Row]:
    """The track's rows, in the API's order, kept in the page cache (building 1,000 entries
    takes far longer than rendering a page of them)."""

    def build() -> list[Row]:  # what it is built from is read inside: at the same stamp
        return [row_of(e, price) for e in leaderboard.cached_records(session, cache, track)]

    return cache.get(session, ("board-rows", track.key, price), build)


def build_board(
    session: Session,
    track: Track,
    settings: Settings,
    *,
    cache: PageCache,
    evidence: str = "all",
    page: int = 1,
    page_size: int | None = None,
    chart_id: str = "progress",
) -> Board:
    page_size = page_size or PAGE_SIZE
    price = price_for(track, settings)
    rows = board_rows(session, cache, track, price)
    chart = cache.get(
        session,
        ("board-chart", track.key, chart_id),
        lambda: progression_chart(track, board_rows(session, cache, track, price), chart_id),
    )
    flops = cache.get(
        session,
        ("board-flops", track.key, chart_id),
        lambda: flops_chart(track, [r.e for r in rows], f"{chart_id}-flops"),
    )
    chosen = [r for r in rows if matches(r.e, evidence)]
    pages = max(1, -(-len(chosen) // page_size))
    page = min(max(page, 1), pages)
    start = (page - 1) * page_size
    api = read_models.track_public(track).leaderboard_url
    return Board(
        track=track,
        public=read_models.track_public(track),
        rows=chosen[start : start + page_size],
        total=len(rows),
        matching=len(chosen),
        current=next((r for r in rows if r.e.status == "current"), None),
        evidence=evidence,
        page=page,
        pages=pages,
        price=price,
        chart=chart,
        flops_chart=flops,
        json_url=f"{api}&limit={page_size}&offset={start}",
        page_url=f"/tracks/{track.id}?version={track.version}",
    )


def index_tracks(*, include_hidden: bool = False) -> list[Track]:
    """The public tracks for `/`: the main track first, then the other runner tracks, then
    the imported history."""
    tracks = list(catalog.tracks(include_hidden=include_hidden))
    return sorted(
        tracks,
        key=lambda t: (
            t.id != MAIN_TRACK,
            t.family == "imported",
            t.hidden,
            t.hardware.accelerator != "cuda",
            t.id,
        ),
    )
