"""The live site a snapshot is rendered from: the real app, asked in-process through
Starlette's TestClient (no socket; its lifespan never runs, so no scheduler starts), on a
database that is checked first and never written.

`signature` names what every page depends on besides the data: this code (every source
file of `web`, `server` and `speedrun`, templates and track definitions included), the
settings and the site's address. A build whose signature differs from the last one
rebuilds everything.
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import inspect
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError

import server
import speedrun
import web
from server.config import Settings
from server.db import Database
from web.publish.folder import PublishError

LAYOUT_VERSION = "1"  # bump when the snapshot's file layout changes


@dataclass
class Site:
    app: Any
    client: TestClient
    db: Database
    base: str  # the site's address, ending in "/"

    def invalidate(self) -> None:
        """Forget every cached page (the next answers read the database's current state)."""
        self.app.state.speedrun.cache.invalidate()


def base_url(settings: Settings, given: str | None = None) -> str:
    """The site's address as readers see it: given, `public_url`, else http://HOST:PORT/."""
    url = given or settings.site_url(f"http://{settings.host}:{settings.port}/")
    if not url.startswith(("http://", "https://")):
        raise PublishError(f"--base-url {url}: an http:// or https:// address is needed")
    return url.rstrip("/") + "/"


def check_database(settings: Settings) -> None:
    """Refuse a database that is not there or not this service's, before anything runs
    (publishing reads; it never creates a database nor migrates one)."""
    url = make_url(settings.db)
    on_disk = url.get_backend_name() == "sqlite" and url.database not in (None, "", ":memory:")
    if on_disk and not Path(str(url.database)).is_file():
        raise PublishError(f"--db {settings.db}: no such database file")
    db = Database(settings.db)
    try:
        tables = set(inspect(db.engine).get_table_names())
    except SQLAlchemyError as exc:
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise PublishError(f"--db {settings.db}: cannot open it: {reason}") from exc
    finally:
        db.dispose()
    missing = {"alembic_version", "runs", "records", "attempts"} - tables
    if missing:
        raise PublishError(
            f"--db {settings.db}: not a speedrun database (no {', '.join(sorted(missing))}); "
            "`speedrun serve` or any admin command creates and migrates one"
        )


@contextmanager
def open_site(app: Any, base: str) -> Iterator[Site]:
    """The app behind an in-process client; its database is disposed of afterwards."""
    client = TestClient(app, base_url=base.rstrip("/"), raise_server_exceptions=False)
    try:
        yield Site(app, client, app.state.speedrun.db, base)
    finally:
        client.close()
        app.state.speedrun.db.dispose()


def signature(settings: Settings, base: str) -> str:
    digest = hashlib.sha256(f"{LAYOUT_VERSION}|{speedrun.__version__}|{base}".encode())
    shown = settings.model_dump(exclude={"db", "host", "port", "publish_dir"})
    digest.update(repr(sorted(shown.items())).encode())
    digest.update(code_digest().encode())
    return digest.hexdigest()


@functools.cache
def code_digest() -> str:
    """The sources this process loaded (read once: files edited later are not running)."""
    digest = hashlib.sha256()
    for package in (web, server, speedrun):
        root = Path(package.__file__ or "").parent
        for path in sorted(root.rglob("*")):
            if path.suffix in (".py", ".html", ".css", ".js", ".svg", ".toml", ".json"):
                digest.update(path.relative_to(root).as_posix().encode())
                digest.update(path.read_bytes())
    return digest.hexdigest()
