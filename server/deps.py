"""Dependencies the routes inject: the app's state, database sessions, the submitter behind a
token, the runner behind a signed agent request, and request bodies read under a size limit
while they stream in."""

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
from server.services.agent_auth import ReplayGuard, authenticate_agent
from server.services.leaderboard import LeaderboardCache
from server.services.tokens import user_for_token

M = TypeVar("M", bound=BaseModel)


@dataclass
class AppState:
    settings: Settings
    db: Database
    cache: LeaderboardCache
    replay: ReplayGuard


async def get_state(request: Request) -> AppState:
    """Async on purpose: a sync dependency costs every request a hop through the threadpool."""
    state: AppState = request.app.state.speedrun
    return state


StateDep = Annotated[AppState, Depends(get_state)]


def get_session(state: StateDep) -> Iterator[Session]:
    with state.db.reader() as session:
        yield session


SessionDep = Annotated[Session, Depends(get_session)]


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
    session: SessionDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
) -> User:
    if credentials is None:
        raise Unauthorized("missing-token", "send `Authorization: Bearer <token>`")
    user = user_for_token(session, credentials.credentials)
    if user is None:
        raise Unauthorized("bad-token", "unknown or revoked API token")
    return user


UserDep = Annotated[User, Depends(current_user)]


@dataclass
class AgentRequest:
    runner: Runner
    body: bytes


async def signed_agent(request: Request, state: StateDep) -> AgentRequest:
    """The body of an agent request, and the active runner whose key signed it."""
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
                replay=state.replay,
            )

    return AgentRequest(runner=await run_in_threadpool(check), body=body)


AgentDep = Annotated[AgentRequest, Depends(signed_agent)]
