"""Submissions: a submitter (API token) hands in a variant for a track; agents run it."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from server.api.common import Id, problems
from server.deps import SessionDep, StateDep, UserDep, parse_json, read_body
from server.models import utcnow
from server.schemas.jobs import SubmissionCreate, SubmissionPublic
from server.services import read_models, submissions
from server.services.read_models import API

router = APIRouter(prefix="/submissions", tags=["submissions"])
JSON_BODY = {
    "requestBody": {
        "required": True,
        "content": {"application/json": {"schema": SubmissionCreate.model_json_schema()}},
    }
}


@router.post(
    "",
    status_code=201,
    response_model=SubmissionPublic,
    responses=problems(401, 413, 422, 429),
    openapi_extra=JSON_BODY,
)
async def post_submission(request: Request, state: StateDep, user: UserDep) -> JSONResponse:
    """Queue runs of a variant on a track; the same code again joins the same attempt."""
    body = parse_json(await read_body(request, state.settings.max_json_bytes), SubmissionCreate)

    def work() -> SubmissionPublic:
        sub = submissions.create_submission(
            state.db,
            user,
            body.track,
            body.version,
            body.source,
            body.description,
            state.settings,
            utcnow(),
            name=body.name,
        )
        with state.db.reader() as session:
            return read_models.submission_public(
                session, submissions.get_submission(session, sub.id)
            )

    answer = await run_in_threadpool(work)
    return JSONResponse(
        answer.model_dump(mode="json"),
        status_code=201,
        headers={"Location": f"{API}/submissions/{answer.id}"},
    )


@router.get("/{submission_id}", responses=problems(404, 422))
def get_submission(session: SessionDep, submission_id: Id) -> SubmissionPublic:
    return read_models.submission_public(
        session, submissions.get_submission(session, submission_id)
    )
