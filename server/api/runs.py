"""Runs: ingest a bundle (the request body is the bundle file's bytes), read one back.

A bundle posted here is an unsolicited run: verified, stored and shown, never counted toward
a record (only the runs a job's agent uploads through `POST /jobs/{id}/runs` count)."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from server.api.common import problems
from server.deps import SessionDep, StateDep, anonymous_write, read_body
from server.problems import NotFound
from server.schemas.runs import IngestPublic, RunPublic
from server.services import read_models
from server.services.blobs import get_blob
from server.services.ingest import ingest_bundle
from server.services.read_models import API

router = APIRouter(prefix="/runs", tags=["runs"])
BUNDLE_BODY = {
    "requestBody": {
        "required": True,
        "content": {"application/gzip": {"schema": {"type": "string", "format": "binary"}}},
    }
}


@router.post(
    "",
    status_code=201,
    response_model=IngestPublic,
    responses={
        200: {"model": IngestPublic, "description": "already stored"},
        **problems(400, 409, 413, 422, 429),
    },
    openapi_extra=BUNDLE_BODY,
    dependencies=[Depends(anonymous_write)],
)
async def post_run(request: Request, state: StateDep) -> JSONResponse:
    """Verify a signed bundle and store it as an unsolicited run (shown, never counted toward
    a record); a re-upload answers 200 with the stored run."""
    data = await read_body(request, state.settings.max_bundle_bytes)

    answer = await run_in_threadpool(ingest_bundle, state.db, data, state.settings, state.cache)
    return JSONResponse(
        answer.model_dump(mode="json"),
        status_code=201 if answer.created else 200,
        headers={"Location": f"{API}/runs/{answer.run_id}"},
    )


@router.get("/{run_id}", responses=problems(404))
def get_run(session: SessionDep, run_id: str) -> RunPublic:
    """A run with its manifest and the step curve parsed from its log."""
    return read_models.run_public(session, read_models.get_run(session, run_id))


@router.get(
    "/{run_id}/bundle", responses={200: {"content": {"application/gzip": {}}}, **problems(404)}
)
def get_run_bundle(session: SessionDep, run_id: str) -> Response:
    """The signed bundle exactly as uploaded (check it offline with `speedrun verify`)."""
    run = read_models.get_run(session, run_id)
    blob = get_blob(session, run.bundle_sha256) if run.bundle_sha256 else None
    if blob is None:
        raise NotFound("no-bundle", f"run {run_id} has no stored bundle")
    headers = {"Content-Disposition": f'attachment; filename="{run.run_id}.tar.gz"'}
    return Response(blob.data, media_type="application/gzip", headers=headers)
