"""The app factory: `create_app(settings)` builds the engine, applies migrations (unless told
not to), and mounts the API under /api/v1 and the pages at /. Nothing runs at import."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from importlib import resources
from pathlib import Path
from typing import Any

from fastapi import APIRouter, FastAPI, Request
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates

from server.api import health, jobs, participation, records, runners, runs, submissions, tracks
from server.config import Settings
from server.db import Database, migrate
from server.deps import AppState
from server.http_cache import ConditionalGet, asset_version
from server.middleware import CachedLeaderboard, SecurityHeaders, WriteRateLimit
from server.problems import install_handlers
from server.services.agent_auth import NonceStore
from server.services.cache import PageCache
from server.services.rate_limit import TokenBuckets
from server.services.reverify.schedule import ReverifyScheduler
from speedrun import __version__
from web import routes as pages
from web.errors import install_page_errors
from web.format import FILTERS
from web.pages.compute import by_machine
from web.publish.publisher import Publisher


def api_router() -> APIRouter:
    api = APIRouter(prefix="/api/v1")
    for module in (health, tracks, runs, records, submissions, jobs, runners, participation):
        api.include_router(module.router)
    return api


def create_app(settings: Settings, *, apply_migrations: bool = True) -> FastAPI:
    db = Database(settings.db, echo=settings.sql_echo)
    if apply_migrations:
        migrate(db)

    scheduler = ReverifyScheduler(db, settings)
    publisher = snapshot_publisher(settings)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        scheduler.start()
        if publisher is not None:
            publisher.start()
        yield
        if publisher is not None:
            publisher.stop()
        scheduler.stop()
        db.dispose()

    app = FastAPI(
        title="NanoGPT speedrun leaderboard",
        version=__version__,
        docs_url="/docs",
        openapi_url="/api/v1/openapi.json",
        lifespan=lifespan,
    )
    cache = PageCache(settings.leaderboard_cache_ttl_s)
    app.state.speedrun = AppState(settings=settings, db=db, cache=cache, nonces=NonceStore(db))
    app.add_middleware(CachedLeaderboard, cache=cache)
    app.add_middleware(WriteRateLimit, buckets=write_buckets(settings))
    # ETag / If-None-Match / Cache-Control around everything, cached fast paths included.
    app.add_middleware(ConditionalGet, static_dir=Path(str(resources.files("web") / "static")))
    app.add_middleware(SecurityHeaders)  # added last: the outermost layer
    templates = page_templates()
    install_handlers(app)
    install_page_errors(app, templates)
    app.include_router(api_router())
    app.include_router(pages.make_router(templates))
    static = resources.files("web") / "static"
    app.mount("/static", StaticFiles(directory=str(static), check_dir=False), name="static")
    return app


def snapshot_publisher(settings: Settings) -> Publisher | None:
    """The static snapshot kept current in `publish_dir` (None: not asked for), rendered by
    an app of its own (its own engine and page cache, no scheduler, no publisher)."""
    if not settings.publish_dir:
        return None
    own = settings.model_copy(update={"publish_dir": None})
    return Publisher.for_settings(settings, lambda: create_app(own, apply_migrations=False))


def write_buckets(settings: Settings) -> TokenBuckets | None:
    """The write rate limit's buckets (None: limiting turned off)."""
    if settings.rate_limit_writes_per_s <= 0:
        return None
    return TokenBuckets(settings.rate_limit_writes_per_s, settings.rate_limit_burst)


def settings_context(request: Request) -> dict[str, Any]:
    """What every page shows from the settings: the deployment's notice line, if any."""
    settings: Settings = request.app.state.speedrun.settings
    return {"notice": getattr(settings, "notice", "")}


def page_templates() -> Jinja2Templates:
    """The pages' Jinja environment (autoescaped): formatting filters, and `asset(name)`,
    a static file's URL with a content hash so browsers may cache it for good."""
    web = resources.files("web")
    templates = Jinja2Templates(
        directory=str(web / "templates"), context_processors=[settings_context]
    )
    templates.env.filters.update(FILTERS)
    templates.env.filters["by_machine"] = by_machine  # the runs tables group by machine
    versions: dict[str, str] = {}

    def asset(name: str) -> str:
        if name not in versions:
            versions[name] = asset_version((web / "static" / name).read_bytes())
        return f"/static/{name}?v={versions[name]}"

    templates.env.globals["asset"] = asset
    return templates
