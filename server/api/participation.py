"""GET /api/v1/take-part: how to enter (the open tracks' rules, the harness contract, the
commands to try and submit a variant, how to get a token), the twin of the /take-part page."""

from __future__ import annotations

from fastapi import APIRouter, Request

from server.deps import StateDep
from server.schemas.tracks import TakePartPublic
from server.services.participation import take_part

router = APIRouter(tags=["tracks"])


@router.get("/take-part")
def take_part_json(request: Request, state: StateDep) -> TakePartPublic:
    """The commands name this server by its public URL (the setting), else as it was reached."""
    return take_part(state.settings.site_url(str(request.base_url)))
