"""Rebuild only what a change touches. The database's state is compared with the one the
snapshot was built from (`server.services.opendata.site_state.changes`, whose docstring
states the dependency rule), and the changed rows name the pages to render again:

    a run            /runs/ID, its JSON twin (its log and bundle only when new)
    an attempt       /api/v1/attempts/ID
    a record         /records/ID and its JSON twin
    a submission     /submissions/ID and its JSON twin
    a track version  its board pages (every filter and page), leaderboard JSON and feed,
                     and the index pages (`/`, `/?hidden=1` and their filters)

and the open data (the Parquet files are rewritten; bundles only added). Links found on a
re-rendered page to something not in the snapshot yet are crawled too; board pages no
longer produced (a page count that shrank) are deleted, as are the pages of rows that went.
Without a saved state, or when code or settings changed (the signature), a whole build.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import parse_qsl

from server.services import catalog
from server.services.opendata.site_state import Changes, SiteState, changes, read_state
from speedrun.tracks import Track
from web.publish import folder, layout, snapshot
from web.publish.crawl import Crawler
from web.publish.site import Site
from web.publish.writer import SnapshotWriter

API = snapshot.API
Scope = Callable[[str], bool]


def entity_urls(ch: Changes, now: SiteState) -> tuple[list[str], list[str]]:
    """(URLs to render again, URLs of rows that are gone)."""
    fresh: list[str] = []
    gone: list[str] = []
    pairs: list[tuple[set[Any], Mapping[Any, object], tuple[str, ...]]] = [
        (ch.runs, now.runs, ("/runs/{}", f"{API}/runs/{{}}")),
        (ch.attempts, now.attempts, (f"{API}/attempts/{{}}",)),
        (ch.records, now.records, ("/records/{}", f"{API}/records/{{}}")),
        (ch.submissions, now.submissions, ("/submissions/{}", f"{API}/submissions/{{}}")),
    ]
    for ids, rows, patterns in pairs:
        for i in sorted(ids, key=str):
            (fresh if i in rows else gone).extend(p.format(i) for p in patterns)
    return fresh, gone


def board_scope(tracks: list[Track]) -> Scope:
    """URLs of the boards (every filter and page), leaderboard JSON and feeds of `tracks`,
    and the index pages: re-rendered even though they are in the snapshot."""
    latest = {t.id: t.version for t in catalog.tracks(include_hidden=True)}
    versions = {(t.id, t.version) for t in tracks}

    def inside(url: str) -> bool:
        path, _, query = url.partition("?")
        if path == "/":
            return bool(versions)  # the index shows every track's best
        parts = path.strip("/").split("/")
        if len(parts) == 3 and parts[0] == "tracks" and parts[2] == "records.atom":
            return any(track_id == parts[1] for track_id, _ in versions)
        board = len(parts) == 2 and parts[0] == "tracks"
        feed = (
            len(parts) == 5 and parts[:3] == ["api", "v1", "tracks"] and parts[4] == "leaderboard"
        )
        if not (board or feed):
            return False
        track_id = parts[1] if board else parts[3]
        version = dict(parse_qsl(query)).get("version")
        wanted = int(version) if version and version.isdigit() else latest.get(track_id)
        return (track_id, wanted) in versions

    return inside


def changed_tracks(ch: Changes) -> list[Track]:
    keys = set(ch.tracks)
    return [t for t in snapshot.every_track() if t.key in keys]


def prune_scope(writer: SnapshotWriter, scope: Scope, folders: list[PurePosixPath]) -> int:
    """Delete the pages in `folders` that `scope` owns and this refresh did not produce."""
    removed = 0
    for rel_folder in folders:
        path = writer.root / rel_folder
        for file in path.glob("index*") if path.is_dir() else ():
            rel = PurePosixPath(file.relative_to(writer.root).as_posix())
            url = layout.page_url(rel)
            if url is not None and scope(url) and rel not in writer.kept:
                writer.remove(rel)
                removed += 1
    return removed


def _follow(writer: SnapshotWriter, scope: Scope) -> Callable[[str], bool]:
    """Crawl a found link when its page is re-rendered, or not in the snapshot yet."""

    def follow(url: str) -> bool:
        try:
            return scope(url) or not any(writer.exists(c) for c in layout.candidates(url))
        except (layout.LayoutError, OSError):
            return True  # the crawl reports why it cannot be stored

    return follow


def refresh(site: Site, out: Path, signature: str) -> snapshot.PublishReport:
    """Bring the snapshot in `out` up to date with what changed since it was built."""
    saved = folder.load_state(out)
    if saved is None or saved.signature != signature:
        return snapshot.build(site, out, signature)
    started = time.monotonic()
    with folder.locked(out):
        writer = SnapshotWriter(out)
        with site.db.reader() as session:
            now = read_state(session)
            ch = changes(saved.state, now)
            if not ch:
                return snapshot.PublishReport(full=False, seconds=time.monotonic() - started)
            if ch.runs or ch.attempts or ch.records:  # not a job's lease or heartbeat alone
                report = snapshot.write_open_data(session, writer)
            else:
                report = snapshot.PublishReport(full=False)
            provided = snapshot.bundle_urls(session)
        report.removed = _render(site, writer, ch, now, provided, report)
        report.written = len(writer.changed)
        folder.save_state(out, folder.Saved(signature, now))
    report.seconds = time.monotonic() - started
    return report


def _render(
    site: Site,
    writer: SnapshotWriter,
    ch: Changes,
    now: SiteState,
    provided: dict[str, PurePosixPath],
    report: snapshot.PublishReport,
) -> int:
    """Render what changed; the number of files removed."""
    tracks = changed_tracks(ch)
    scope = board_scope(tracks)
    fresh, gone = entity_urls(ch, now)
    latest = {t.key for t in catalog.tracks(include_hidden=True)}
    seeds = fresh + [u for t in tracks for u in snapshot.track_seeds(t, t.key in latest)]
    seeds += ["/", "/?hidden=1"] if tracks else []
    site.invalidate()
    follow = _follow(writer, scope)
    crawler = Crawler(site.client, writer, site.base, follow=follow, provided=provided)
    crawl = crawler.run(seeds)
    report.answers, report.failures = crawl.answers, crawl.failures
    removed = 0
    for rel in (c for url in gone for c in layout.candidates(url)):
        if writer.exists(rel):
            writer.remove(rel)
            removed += 1
    folders = [PurePosixPath(".")]
    for t in tracks:
        folders.append(PurePosixPath("tracks", t.id))
        folders.append(PurePosixPath("api", "v1", "tracks", t.id, "leaderboard"))
    return removed + prune_scope(writer, scope, folders)
