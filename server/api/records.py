"""Records and attempts, one at a time."""

from __future__ import annotations

from fastapi import APIRouter, Response

from server.api.common import Id, problems
from server.deps import SessionDep
from server.problems import NotFound
from server.schemas.records import AttemptPublic, RecordPublic
from server.services import leaderboard, read_models
from server.services.blobs import get_blob

router = APIRouter(tags=["records"])


@router.get("/records/{record_id}", responses=problems(404, 422))
def get_record(session: SessionDep, record_id: Id) -> RecordPublic:
    """A record with its runs, statistics, evidence and verification history."""
    return leaderboard.record_public(session, record_id)


@router.get("/attempts/{attempt_id}", responses=problems(404, 422))
def get_attempt(session: SessionDep, attempt_id: Id) -> AttemptPublic:
    return read_models.attempt_public(session, read_models.get_attempt(session, attempt_id))


@router.get(
    "/attempts/{attempt_id}/source",
    responses={200: {"content": {"text/x-python": {}}}, **problems(404, 422)},
)
def get_attempt_source(session: SessionDep, attempt_id: Id) -> Response:
    """The variant's source code, as stored by sha256."""
    attempt = read_models.get_attempt(session, attempt_id)
    blob = get_blob(session, attempt.source_sha256) if attempt.source_sha256 else None
    if blob is None:
        raise NotFound("no-source", f"attempt {attempt_id} has no stored source")
    return Response(blob.data, media_type="text/x-python; charset=utf-8")
