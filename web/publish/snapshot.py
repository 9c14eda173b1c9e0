"""A whole snapshot: every public page and its JSON twin, crawled through the real app from
`/` and from every stored run, record, attempt and submission (so nothing only a search
would find is missed), with the open data beside them in `data/`:

    data/runs.parquet, records.parquet, attempts.parquet    (server.services.opendata)
    data/README.md, data/index.json                         the columns; the files' sizes
    data/bundles/RUN_ID.tar.gz, data/bundles/index.json     the signed bundles, indexed

A run's live bundle URL (`/api/v1/runs/ID/bundle`) is a second name (hard link) of its
file in `data/bundles/`. Files the build no longer produces are deleted at the end.
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from sqlalchemy.orm import Session

from server.services import catalog
from server.services.opendata import bundles, columns, tables
from server.services.opendata.site_state import SiteState, read_state
from speedrun.tracks import Track
from web.feed import feed_path, track_versions
from web.publish import folder
from web.publish.crawl import Crawler
from web.publish.site import Site
from web.publish.writer import SnapshotWriter

API = "/api/v1"
DATA = PurePosixPath("data")
SITE_SEEDS = (
    "/",
    "/?hidden=1",
    "/docs",
    f"{API}/openapi.json",
    f"{API}/tracks",
    f"{API}/tracks?include_hidden=1",
)


@dataclass
class PublishReport:
    full: bool
    answers: int = 0  # pages and JSON answers rendered
    written: int = 0  # files written because new or changed
    removed: int = 0
    rows: dict[str, int] = field(default_factory=dict)  # open data: rows per table
    bundles: int = 0
    failures: list[tuple[str, str]] = field(default_factory=list)
    seconds: float = 0.0

    def line(self) -> str:
        kind = "snapshot" if self.full else "refresh"
        rows = ", ".join(f"{n} {name}" for name, n in self.rows.items()) or "unchanged"
        return (
            f"{kind}: {self.answers} answers rendered, {self.written} files written, "
            f"{self.removed} removed; open data: {rows}; {self.bundles} bundles; "
            f"{len(self.failures)} failures; {self.seconds:.2f} s"
        )


def every_track() -> list[Track]:
    """Every version of every track the site shows (hidden and retired ones too)."""
    return [t for latest in catalog.tracks(include_hidden=True) for t in track_versions(latest.id)]


def track_seeds(track: Track, latest: bool) -> list[str]:
    urls = [f"/tracks/{track.id}?version={track.version}"]
    urls.append(f"{API}/tracks/{track.id}/leaderboard?version={track.version}")
    return urls + ([f"/tracks/{track.id}", feed_path(track.id)] if latest else [])


def entity_seeds(state: SiteState) -> list[str]:
    """The pages and JSON of every stored entity (runs, records, attempts, submissions)."""
    urls = []
    for run_id in state.runs:
        urls += [f"/runs/{run_id}", f"{API}/runs/{run_id}"]
    for record_id in state.records:
        urls += [f"/records/{record_id}", f"{API}/records/{record_id}"]
    urls += [f"{API}/attempts/{a}" for a in state.attempts]
    for sub_id in state.submissions:
        urls += [f"/submissions/{sub_id}", f"{API}/submissions/{sub_id}"]
    return urls


def seeds(state: SiteState) -> list[str]:
    latest = {t.key for t in catalog.tracks(include_hidden=True)}
    urls = list(SITE_SEEDS)
    for t in every_track():
        urls += track_seeds(t, t.key in latest)
    return urls + entity_seeds(state)


def write_open_data(session: Session, writer: SnapshotWriter) -> PublishReport:
    """The Parquet files, their documentation and index, and the bundles with theirs: the
    report's open-data part."""
    out = writer.root / DATA
    report = PublishReport(full=False)
    entries = bundles.export_bundles(session, out / "bundles")
    for e in entries:
        writer.adopt(DATA / "bundles" / e.path)
    writer.write(DATA / "bundles" / bundles.INDEX, bundles.index_json(entries), compress=True)
    report.rows = tables.write_all(session, out)
    files = []
    for name, count in report.rows.items():
        rel = DATA / f"{name}.parquet"
        writer.adopt(rel)
        data = (writer.root / rel).read_bytes()
        digest = hashlib.sha256(data).hexdigest()
        files.append({"path": rel.name, "rows": count, "size_bytes": len(data), "sha256": digest})
    index = {"files": files, "bundles": "bundles/index.json", "columns": "README.md"}
    writer.write(DATA / "index.json", json.dumps(index, indent=1).encode(), compress=True)
    writer.write(DATA / "README.md", columns.readme().encode(), compress=True)
    report.bundles = len(entries)
    return report


def bundle_urls(session: Session) -> dict[str, PurePosixPath]:
    """Each live bundle URL and the file of the open data it names."""
    return {
        f"{API}/runs/{e.run_id}/bundle": DATA / "bundles" / e.path
        for e in bundles.bundle_entries(session)
    }


def build(site: Site, out: Path, signature: str) -> PublishReport:
    """A whole snapshot of `site` in `out` (checked, locked)."""
    started = time.monotonic()
    with folder.locked(out):
        writer = SnapshotWriter(out)
        with site.db.reader() as session:
            state = read_state(session)  # read first: a later change is seen by the next build
            report = write_open_data(session, writer)
            provided = bundle_urls(session)
        site.invalidate()
        crawl = Crawler(site.client, writer, site.base, provided=provided).run(seeds(state))
        report.full = True
        report.answers, report.failures = crawl.answers, crawl.failures
        report.removed = writer.prune()
        report.written = len(writer.changed)
        folder.save_state(out, folder.Saved(signature, state))
    report.seconds = time.monotonic() - started
    return report
