"""HTML pages rendered on the server (Jinja, autoescaped). For now one: the leaderboard of
every visible track; its JSON twin is /api/v1/tracks/{track}/leaderboard."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates

from server.deps import SessionDep
from server.services import catalog, leaderboard, views


def make_router(templates: Jinja2Templates) -> APIRouter:
    router = APIRouter(include_in_schema=False)

    @router.get("/", response_class=HTMLResponse)
    def index(request: Request, session: SessionDep, hidden: bool = False) -> HTMLResponse:
        """Every visible track's leaderboard (`?hidden=1` adds the test-only tracks)."""
        boards = [
            {"track": views.track_public(t), "entries": leaderboard.track_records(session, t)}
            for t in catalog.tracks(include_hidden=hidden)
        ]
        return templates.TemplateResponse(request, "leaderboard.html", {"boards": boards})

    return router
