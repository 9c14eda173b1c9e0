"""Dependencies the routes inject: the app's state, database sessions, the submitter behind a
token, the runner behind a signed agent request, request bodies read under a size limit
while they stream in, and the rate limit's charge for a write (to the client a credential
proves, once it is checked; else to the address)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Annotated, TypeVar

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, ValidationError
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from server.config import Settings
from server.db import Database
from server.models import Runner, User
from server.problems import BadRequest, TooLarge, Unauthorized
from server.services.agent_auth import NonceStore, authenticate_agent
from server.services.cache import PageCache
from server.services.rate_limit import PENDING_CHARGE, PendingCharge
from server.services.runners import active_runner
from server.services.tokens import active_token
from speedrun.agentauth import KEY_HEADER, NONCE_HEADER, SIG_HEADER, TIME_HEADER

HEADERS = (KEY_HEADER, TIME_HEADER, NONCE_HEADER, SIG_HEADER)

M = TypeVar("M", bound=BaseModel)


@dataclass
class AppState:
    settings: Settings
    db: Database
    cache: PageCache  # the one page cache: every write route calls `cache.invalidate()`
    nonces: NonceStore


async def get_state(request: Request) -> AppState:
    """Async on purpose: a sync dependency costs every request a hop through the threadpool."""
    state: AppState = request.app.state.speedrun
    return state


StateDep = Annotated[AppState, Depends(get_state)]


def get_session(state: StateDep) -> Iterator[Session]:
    with state.db.reader() as session:
        yield session


# Reads hold a pooled connection only while the route runs: scope="function" closes the
# session before the response is serialised and sent (on the same worker threads), and
# max_concurrency keeps readers below the pool's size, waiting without a thread. Without
# both, 40 worker threads and a 30-connection pool deadlocked under a sustained load:
# requests holding a connection waited for a thread to serialise their answer while every
# thread waited for a connection (benchmarks/soak.py, 300 clients, 2026-12-01).
READERS_AT_ONCE = 24
SessionDep = Annotated[
    Session, Depends(get_session, scope="function", max_concurrency=READERS_AT_ONCE)
]


def charge_write(request: Request, client: str | None) -> None:
    """Settle a write's rate-limit charge: to `client` (a checked credential), or with None
    to the request's address; 429 when that bucket is empty. Reads have nothing to settle."""
    pending: PendingCharge | None = getattr(request.state, PENDING_CHARGE, None)
    if pending is not None:
        pending.settle(client)


async def anonymous_write(request: Request) -> None:
    """For write routes that take no credential: the address pays, whatever headers say."""
    charge_write(request, None)


async def read_body(request: Request, limit_bytes: int) -> bytes:
    """The request body, refused with 413 as soon as it passes `limit_bytes` (before it is all
    buffered), or at once when Content-Length already says so."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit_bytes:
        raise TooLarge("too-large", f"request body over {limit_bytes} bytes")
    chunks, total = [], 0
    async for chunk in request.stream():
        total += len(chunk)
        if total > limit_bytes:
            raise TooLarge("too-large", f"request body over {limit_bytes} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


def parse_json(body: bytes, model: type[M]) -> M:
    try:
        return model.model_validate_json(body)
    except ValidationError as exc:
        errors = exc.errors()
        if not errors:
            raise BadRequest("validation", "invalid JSON body") from None
        where = ".".join(str(p) for p in errors[0]["loc"]) or "body"
        raise BadRequest("validation", f"{where}: {errors[0]['msg']}") from None


bearer = HTTPBearer(auto_error=False, description="a submitter's API token")


def current_user(
    request: Request,
    session: SessionDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
) -> User:
    found = None if credentials is None else active_token(session, credentials.credentials)
    charge_write(request, None if found is None else f"token {found[1]}")
    if credentials is None:
        raise Unauthorized("missing-token", "send `Authorization: Bearer <token>`")
    if found is None:
        raise Unauthorized("bad-token", "unknown or revoked API token")
    return found[0]


UserDep = Annotated[User, Depends(current_user)]


@dataclass
class AgentRequest:
    runner: Runner
    body: bytes


def _known_key(state: AppState, key_id: str) -> bool:
    with state.db.reader() as session:
        return active_runner(session, key_id) is not None


async def signed_agent(request: Request, state: StateDep) -> AgentRequest:
    """The body of an agent request, and the active runner whose key signed it. An unknown
    key is refused before the body is read; the rate limit charges the runner once its
    signature verifies, else the address."""
    key_id = request.headers.get(KEY_HEADER)
    if not key_id:
        charge_write(request, None)
        raise Unauthorized("missing-signature", f"agent requests need {', '.join(HEADERS)}")
    if not await run_in_threadpool(_known_key, state, key_id):
        charge_write(request, None)
        raise Unauthorized("unknown-runner", f"key {key_id[:16]!r} is not an active runner")
    limit = (
        state.settings.max_bundle_bytes
        if request.url.path.endswith("/runs")
        else state.settings.max_json_bytes
    )
    body = await read_body(request, limit)
    path = request.url.path + (f"?{request.url.query}" if request.url.query else "")

    def check() -> Runner:
        with state.db.reader() as session:
            return authenticate_agent(
                session,
                request.headers,
                request.method,
                path,
                body,
                skew_s=state.settings.signature_skew_s,
                now=time.time(),
                nonces=state.nonces,
            )

    try:
        runner = await run_in_threadpool(check)
    except Unauthorized:
        charge_write(request, None)
        raise
    charge_write(request, f"runner {runner.key_id}")
    return AgentRequest(runner=runner, body=body)


AgentDep = Annotated[AgentRequest, Depends(signed_agent)]
