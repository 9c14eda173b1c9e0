"""Tracks, their leaderboards (cached), records and attempts."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request, Response
from starlette.concurrency import run_in_threadpool

from server.api.common import problems, resolve
from server.deps import SessionDep, StateDep
from server.schemas.records import AttemptsPublic, LeaderboardPublic, RecordsPublic
from server.schemas.tracks import TrackPublic, TracksPublic
from server.services import catalog, leaderboard, read_models

router = APIRouter(prefix="/tracks", tags=["tracks"])
Version = Annotated[int | None, Query(ge=1, le=1_000_000, description="default: the latest")]
Limit = Annotated[int, Query(ge=1, le=1000)]
Offset = Annotated[int, Query(ge=0, le=10_000_000)]


@router.get("")
def tracks(include_hidden: bool = False) -> TracksPublic:
    data = [read_models.track_public(t) for t in catalog.tracks(include_hidden=include_hidden)]
    return TracksPublic(data=data, count=len(data))


@router.get("/{track}", responses=problems(404))
def track(track: str, version: Version = None) -> TrackPublic:
    return read_models.track_public(resolve(track, version))


@router.get("/{track}/leaderboard", response_model=LeaderboardPublic, responses=problems(404, 422))
async def track_leaderboard(
    request: Request,
    track: str,
    state: StateDep,
    version: Version = None,
    limit: Limit = 100,
    offset: Offset = 0,
) -> Response:
    """Records on the track version ranked by mean time, current and superseded."""
    t = resolve(track, version)
    key = leaderboard.raw_key(request.scope["path"], request.scope["query_string"])
    body = state.cache.peek(key)
    if not isinstance(body, bytes):

        def load() -> bytes:
            with state.db.reader() as session:
                return leaderboard.leaderboard_body(session, state.cache, key, t, limit, offset)

        body = await run_in_threadpool(load)
    return Response(body, media_type="application/json")


@router.get("/{track}/records", responses=problems(404, 422))
def track_records(session: SessionDep, track: str, version: Version = None) -> RecordsPublic:
    data = leaderboard.track_records(session, resolve(track, version))
    return RecordsPublic(data=data, count=len(data))


@router.get("/{track}/attempts", responses=problems(404, 422))
def track_attempts(
    session: SessionDep, track: str, version: Version = None, limit: Limit = 100, offset: Offset = 0
) -> AttemptsPublic:
    data = read_models.list_attempts(session, resolve(track, version), limit, offset)
    return AttemptsPublic(data=data, count=len(data))
