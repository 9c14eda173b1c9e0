"""The app factory: `create_app(settings)` builds the engine, applies migrations (unless told
not to), and mounts the API under /api/v1 and the pages at /. Nothing runs at import."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from importlib import resources

from fastapi import APIRouter, FastAPI
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates

from server.config import Settings
from server.db import Database, migrate
from server.deps import AppState
from server.middleware import CachedLeaderboard
from server.problems import install_handlers
from server.routes import health, jobs, pages, records, runners, runs, submissions, tracks
from server.services.agent_auth import ReplayGuard
from server.services.leaderboard import LeaderboardCache
from speedrun import __version__


def api_router() -> APIRouter:
    api = APIRouter(prefix="/api/v1")
    for module in (health, tracks, runs, records, submissions, jobs, runners):
        api.include_router(module.router)
    return api


def create_app(settings: Settings, *, apply_migrations: bool = True) -> FastAPI:
    db = Database(settings.db, echo=settings.sql_echo)
    if apply_migrations:
        migrate(db)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        yield
        db.dispose()

    app = FastAPI(
        title="NanoGPT speedrun leaderboard",
        version=__version__,
        docs_url="/docs",
        openapi_url="/api/v1/openapi.json",
        lifespan=lifespan,
    )
    cache = LeaderboardCache(settings.leaderboard_cache_ttl_s)
    app.state.speedrun = AppState(settings=settings, db=db, cache=cache, replay=ReplayGuard())
    app.add_middleware(CachedLeaderboard, cache=cache)
    install_handlers(app)
    app.include_router(api_router())
    web = resources.files("web")
    app.include_router(pages.make_router(Jinja2Templates(directory=str(web / "templates"))))
    app.mount("/static", StaticFiles(directory=str(web / "static"), check_dir=False), name="static")
    return app
