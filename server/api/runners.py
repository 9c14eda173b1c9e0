"""The registered runners (public keys only)."""

from __future__ import annotations

from fastapi import APIRouter

from server.deps import SessionDep
from server.schemas.jobs import RunnerPublic, RunnersPublic
from server.services import runners

router = APIRouter(prefix="/runners", tags=["runners"])


@router.get("")
def list_runners(session: SessionDep) -> RunnersPublic:
    data = [
        RunnerPublic(
            name=r.name,
            key_id=r.key_id,
            active=r.active,
            created_at=r.created_at,
            revoked_at=r.revoked_at,
        )
        for r in runners.list_runners(session)
    ]
    return RunnersPublic(data=data, count=len(data))
