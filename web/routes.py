"""HTML pages rendered on the server (Jinja, autoescaped), each with a JSON twin in the API:

    /                      every public track's leaderboard    /api/v1/tracks
    /tracks/{track}        one track, filtered and paginated   /api/v1/tracks/{track}/leaderboard
    /records/{id}          a record and its evidence           /api/v1/records/{id}
    /runs/{run_id}         one run (and /runs/{id}/log.txt)    /api/v1/runs/{run_id}
    /tracks/{track}/records.atom   the track's records as an Atom feed (web.feed)
    /submissions/{id}      a queued attempt, refreshing        /api/v1/submissions/{id}
    /take-part             how to enter: rules, commands       /api/v1/take-part

A page's URL with `.json` appended, or asked for with `Accept: application/json`, redirects
to its twin. Errors on pages render `error.html` (see `pages_errors`).
"""

from __future__ import annotations

from typing import Annotated, Protocol

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import PlainTextResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates

from server.api.common import Id, resolve
from server.deps import SessionDep, StateDep
from server.problems import NotFound
from server.services import participation, read_models
from server.services.read_models import API
from web import feed
from web.pages import board, detail

Evidence = Annotated[str, Query(pattern="^(" + "|".join(board.EVIDENCE_LEVELS) + ")$")]
Version = Annotated[int | None, Query(ge=1, le=1_000_000)]
PageNo = Annotated[int, Query(ge=1, le=1_000_000)]
RunId = Annotated[str, Path(min_length=1, max_length=64)]


def wants_json(request: Request) -> bool:
    accept = request.headers.get("accept", "")
    return "application/json" in accept and "text/html" not in accept


class Render(Protocol):
    def __call__(
        self, request: Request, name: str, json_url: str, **context: object
    ) -> Response: ...


def make_router(templates: Jinja2Templates) -> APIRouter:
    router = APIRouter(include_in_schema=False)

    def render(request: Request, name: str, json_url: str, **context: object) -> Response:
        if wants_json(request):
            return RedirectResponse(json_url, status_code=307)
        context["json_url"] = json_url
        return templates.TemplateResponse(request, name, context)

    _twin_routes(router)  # first: `/tracks/x.json` would match `/tracks/{track}` too
    _index_route(router, render)
    _track_route(router, render)
    _detail_routes(router, render)
    _take_part_route(router, render)
    feed.add_feed_route(router)  # /tracks/{track}/records.atom
    return router


def _take_part_route(router: APIRouter, render: Render) -> None:
    """How to enter, linked from every page (the base layout's navigation)."""

    @router.get("/take-part")
    def take_part_page(request: Request, state: StateDep) -> Response:
        view = participation.take_part(state.settings.site_url(str(request.base_url)))
        return render(request, "take_part.html", f"{API}/take-part", v=view)


def _index_route(router: APIRouter, render: Render) -> None:
    """`/`: every track's best (the boards' rows from the page cache, `state.cache`)."""

    @router.get("/")
    def index(
        request: Request,
        session: SessionDep,
        state: StateDep,
        hidden: bool = False,
        evidence: Evidence = "all",
    ) -> Response:
        """Every visible track's best records (`?hidden=1` adds the test-only tracks)."""
        shown = [
            board.build_board(
                session,
                t,
                state.settings,
                cache=state.cache,
                evidence=evidence,
                page_size=board.INDEX_ROWS,
                chart_id=f"progress-{t.id}",
            )
            for t in board.index_tracks(include_hidden=hidden)
        ]
        json_url = f"{API}/tracks" + ("?include_hidden=1" if hidden else "")
        return render(
            request,
            "index.html",
            json_url,
            boards=shown,
            evidence=evidence,
            levels=board.EVIDENCE_LEVELS,
            hidden=hidden,
        )


def _track_route(router: APIRouter, render: Render) -> None:
    """One track's board, filtered and paginated (its rows from the page cache)."""

    @router.get("/tracks/{track}")
    def track_page(
        request: Request,
        session: SessionDep,
        state: StateDep,
        track: str,
        version: Version = None,
        evidence: Evidence = "all",
        page: PageNo = 1,
    ) -> Response:
        view = board.build_board(
            session,
            resolve(track, version),
            state.settings,
            cache=state.cache,
            evidence=evidence,
            page=page,
        )
        return render(
            request,
            "track.html",
            view.json_url,
            board=view,
            evidence=evidence,
            levels=board.EVIDENCE_LEVELS,
        )


def _detail_routes(router: APIRouter, render: Render) -> None:
    """A record, a run (and its whole log), a submission."""

    @router.get("/records/{record_id}")
    def record_page(
        request: Request, session: SessionDep, state: StateDep, record_id: Id
    ) -> Response:
        view = detail.record_view(
            session, record_id, state.settings, state.settings.site_url(str(request.base_url))
        )
        return render(request, "record.html", f"{API}/records/{record_id}", v=view)

    @router.get("/runs/{run_id}/log.txt")
    def run_log(session: SessionDep, run_id: RunId) -> Response:
        """The run's whole log as plain text (the pages show its head and tail)."""
        text = read_models.run_log_text(session, read_models.get_run(session, run_id))
        if text is None:
            raise NotFound("no-log", f"run {run_id} has no stored log")
        return PlainTextResponse(text)

    @router.get("/runs/{run_id}")
    def run_page(request: Request, session: SessionDep, run_id: RunId) -> Response:
        view = detail.run_view(session, run_id)
        return render(request, "run.html", f"{API}/runs/{run_id}", v=view)

    @router.get("/submissions/{submission_id}")
    def submission_page(request: Request, session: SessionDep, submission_id: Id) -> Response:
        view = detail.submission_view(session, submission_id)
        return render(request, "submission.html", f"{API}/submissions/{submission_id}", v=view)


def _twin_routes(router: APIRouter) -> None:
    """A page's URL with `.json` appended: a redirect to its JSON twin."""

    @router.get("/tracks/{track}.json")
    def track_json(track: str, version: Version = None, page: PageNo = 1) -> Response:
        t = resolve(track, version)
        offset = (page - 1) * board.PAGE_SIZE
        url = (
            f"{read_models.track_public(t).leaderboard_url}&limit={board.PAGE_SIZE}&offset={offset}"
        )
        return RedirectResponse(url, status_code=307)

    @router.get("/records/{record_id}.json")
    def record_json(record_id: Id) -> Response:
        return RedirectResponse(f"{API}/records/{record_id}", status_code=307)

    @router.get("/runs/{run_id}.json")
    def run_json(run_id: RunId) -> Response:
        return RedirectResponse(f"{API}/runs/{run_id}", status_code=307)

    @router.get("/take-part.json")
    def take_part_json() -> Response:
        return RedirectResponse(f"{API}/take-part", status_code=307)

    @router.get("/submissions/{submission_id}.json")
    def submission_json(submission_id: Id) -> Response:
        return RedirectResponse(f"{API}/submissions/{submission_id}", status_code=307)
