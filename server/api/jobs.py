"""Jobs, for agents: claim, heartbeat, upload runs, complete. Every call is signed with the
runner's key (see `server.services.agent_auth`); reading a job needs no signature, and never
shows its nonce: only the claim answer carries it, to the agent that leased the job."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Response
from fastapi.responses import JSONResponse
from sqlalchemy import select
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from server.api.common import Id, problems
from server.deps import AgentDep, SessionDep, StateDep, parse_json
from server.models import Job, Run, utcnow
from server.schemas.jobs import ClaimIn, CompleteIn, JobLease, JobPublic, LeaseIn
from server.schemas.runs import IngestPublic
from server.services import jobs, read_models
from server.services.blobs import get_blob
from server.services.hardware import AgentHardware
from server.services.ingest import ingest_bundle
from server.services.read_models import API
from server.services.reverify import policy as reverify_policy
from speedrun.manifest import Manifest

router = APIRouter(prefix="/jobs", tags=["jobs"])
SIGNED = problems(401, 404, 409, 413, 422, 429)
UPLOAD = problems(400, 401, 404, 409, 413, 422, 429)


@router.get("", responses=problems(422))
def list_jobs(
    session: SessionDep,
    state: Annotated[str | None, Query(pattern="^(PENDING|RUNNING|FINISHED|FAILED)$")] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> list[JobPublic]:
    """Jobs, newest first, optionally in one state."""
    query = select(Job).order_by(Job.id.desc()).limit(limit)
    if state:
        query = query.where(Job.state == state)
    return [read_models.job_public(session, j) for j in session.scalars(query)]


@router.get("/{job_id}", responses=problems(404, 422))
def get_job(session: SessionDep, job_id: Id) -> JobPublic:
    return read_models.job_public(session, jobs.get_job(session, job_id))


@router.post(
    "/claim", response_model=JobLease, responses={204: {"description": "no job"}, **SIGNED}
)
async def claim(agent: AgentDep, state: StateDep) -> Response:
    """Lease the oldest pending job this agent's hardware can run (204 when there is none).
    The optional body announces the agent's environment: its hardware (accelerator kind,
    count, GPU model) decides which jobs it gets; a new image or runner version on a track
    re-runs that track's records."""
    env = parse_json(agent.body, ClaimIn) if agent.body.strip() else ClaimIn()
    hardware = AgentHardware(env.accelerator or "cpu", env.accelerator_count, env.gpu_model)

    def work() -> JobLease | None:
        if env.accelerator and env.runner_version:
            with state.db.write() as session:
                reverify_policy.note_agent_environment(
                    session,
                    env.accelerator,
                    env.image_digest,
                    env.runner_version,
                    utcnow(),
                    state.settings.reverify_runs,
                )
        job = jobs.claim_job(state.db, agent.runner, state.settings, utcnow(), hardware=hardware)
        if job is None:
            return None
        with state.db.reader() as session:
            blob = get_blob(session, job.variant_sha256)
            assert blob is not None and job.lease_id is not None
            base = get_blob(session, job.baseline_sha256) if job.baseline_sha256 else None
            return JobLease(
                job=read_models.job_public(session, jobs.get_job(session, job.id)),
                lease_id=job.lease_id,
                nonce=job.nonce,
                source=blob.data.decode("utf-8"),
                baseline_source=base.data.decode("utf-8") if base is not None else None,
                upload_url=f"{API}/jobs/{job.id}/runs?lease={job.lease_id}",
            )

    lease = await run_in_threadpool(work)
    if lease is None:
        return Response(status_code=204)
    return JSONResponse(lease.model_dump(mode="json"))


@router.post("/{job_id}/heartbeat", responses=SIGNED)
async def heartbeat(job_id: Id, agent: AgentDep, state: StateDep) -> JobPublic:
    body = parse_json(agent.body, LeaseIn)

    def work() -> JobPublic:
        jobs.heartbeat(state.db, job_id, body.lease_id, agent.runner, state.settings, utcnow())
        with state.db.reader() as session:
            return read_models.job_public(session, jobs.get_job(session, job_id))

    return await run_in_threadpool(work)


@router.post("/{job_id}/runs", status_code=201, response_model=IngestPublic, responses=UPLOAD)
async def upload_run(job_id: Id, lease: str, agent: AgentDep, state: StateDep) -> JSONResponse:
    """A bundle produced for this job (the body is the bundle's bytes), under a live lease; its
    manifest must carry the job's id and nonce (400 `job-mismatch` otherwise)."""

    def hook(session: Session, run: Run, manifest: Manifest) -> None:
        jobs.attach_run(session, job_id, lease, agent.runner, run, manifest, utcnow())

    def work() -> IngestPublic:
        return ingest_bundle(state.db, agent.body, state.settings, state.cache, hook=hook)

    answer = await run_in_threadpool(work)
    return JSONResponse(answer.model_dump(mode="json"), status_code=201 if answer.created else 200)


@router.post("/{job_id}/complete", responses=SIGNED)
async def complete(job_id: Id, agent: AgentDep, state: StateDep) -> JobPublic:
    body = parse_json(agent.body, CompleteIn)

    def work() -> JobPublic:
        jobs.complete(
            state.db,
            job_id,
            body.lease_id,
            agent.runner,
            state.settings,
            failed=body.outcome == "failed",
            reason=body.reason,
            now=utcnow(),
        )
        state.cache.invalidate()
        with state.db.reader() as session:
            return read_models.job_public(session, jobs.get_job(session, job_id))

    return await run_in_threadpool(work)
