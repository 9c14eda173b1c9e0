"""An Atom feed (RFC 4287) of the records set on a track, newest first, for people who follow
records as they are set: `/tracks/{track}/records.atom`, every version of the track in one
feed (each entry names its version), linked from the track page.

Built with ElementTree, which escapes every text and attribute; names and descriptions are
submitters' text, so characters XML 1.0 cannot carry at all (control characters, lone
surrogates) are dropped first. Entry ids are `urn:uuid:` names derived from the site and the
record, so they stay the same from one build to the next; links are absolute, on the base
URL of the site (its `public_url` when set, else the one the feed was asked at; the
snapshot's `--base-url`).
"""

from __future__ import annotations

import re
import uuid
import xml.etree.ElementTree as ET
from datetime import UTC, datetime

from fastapi import APIRouter, Request, Response
from sqlalchemy.orm import Session

from server.deps import SessionDep, StateDep
from server.schemas.records import RecordEntry
from server.services import catalog, leaderboard
from server.services.cache import PageCache
from speedrun.errors import TrackError
from speedrun.tracks import Track
from web.format import fmt_loss, fmt_p, fmt_time_pm

ATOM = "http://www.w3.org/2005/Atom"
MEDIA_TYPE = "application/atom+xml"
ENTRIES = 50
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)  # `updated` of a feed with no records yet
NOT_XML = re.compile("[^\u0009\u000a\u000d\u0020-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def feed_path(track_id: str) -> str:
    return f"/tracks/{track_id}/records.atom"


def clean(text: str | None) -> str:
    """`text` with what XML 1.0 cannot hold removed (ElementTree escapes the rest)."""
    return NOT_XML.sub("", text or "")


def stamp(at: datetime) -> str:
    return (at if at.tzinfo else at.replace(tzinfo=UTC)).isoformat().replace("+00:00", "Z")


def track_versions(track_id: str) -> list[Track]:
    """Every version of the track, newest first (TrackError: no such track)."""
    latest = catalog.track(track_id)
    out = []
    for version in range(latest.version, 0, -1):
        try:
            out.append(catalog.track(track_id, version))
        except TrackError:
            continue
    return out


def feed_entries(session: Session, cache: PageCache, track_id: str) -> list[RecordEntry]:
    """The newest records over every version of the track."""
    found = [
        e for t in track_versions(track_id) for e in leaderboard.cached_records(session, cache, t)
    ]
    found.sort(key=lambda e: (e.established_at, e.record_id), reverse=True)
    return found[:ENTRIES]


def _text(parent: ET.Element, tag: str, text: str, **attrs: str) -> ET.Element:
    node = ET.SubElement(parent, tag, attrs)
    node.text = clean(text)
    return node


def _summary(e: RecordEntry) -> str:
    claim = e.imported
    figure = (
        f"claimed {claim.claimed}" if claim and claim.claimed else f"time {fmt_time_pm(e.time_ms)}"
    )
    loss = f"val loss {fmt_loss(e.val_loss.mean)}" if e.val_loss else "no val loss"
    beat = f"beat record {e.previous_record_id}" if e.previous_record_id else "first record"
    evidence = "imported history" if e.evidence.imported else e.evidence.val_loss_source
    return (
        f"{e.track.id}@v{e.track.version}: {figure}, {loss}, p = {fmt_p(e.p_value)}; "
        f"{beat} ({e.beat.method}); evidence: {evidence}."
        + (f" {e.description}" if e.description else "")
    )


def _entry(feed: ET.Element, e: RecordEntry, base: str) -> None:
    entry = ET.SubElement(feed, "entry")
    name = e.name or e.variant_sha256[:12]
    _text(entry, "title", f"Record {e.record_id} on {e.track.id}@v{e.track.version}: {name}")
    record_uri = f"{base}records/{e.record_id}#{e.variant_sha256}"
    _text(entry, "id", uuid.uuid5(uuid.NAMESPACE_URL, record_uri).urn)
    _text(entry, "updated", stamp(e.established_at))
    _text(entry, "published", stamp(e.established_at))
    ET.SubElement(
        entry, "link", rel="alternate", type="text/html", href=f"{base}records/{e.record_id}"
    )
    ET.SubElement(
        entry, "link", rel="related", type="application/json", href=f"{base}{e.url.lstrip('/')}"
    )
    if e.submitter:
        _text(ET.SubElement(entry, "author"), "name", e.submitter)
    ET.SubElement(entry, "category", term=e.status)
    _text(entry, "summary", _summary(e), type="text")


def render_feed(track: Track, entries: list[RecordEntry], base: str) -> bytes:
    """The feed document; `base` is the site's URL, ending in `/`."""
    feed = ET.Element("feed", xmlns=ATOM)
    self_url = base + feed_path(track.id).lstrip("/")
    _text(feed, "title", f"Records on {track.id} · NanoGPT speedrun")
    _text(feed, "subtitle", track.description)
    _text(feed, "id", uuid.uuid5(uuid.NAMESPACE_URL, self_url).urn)
    newest = max((e.established_at for e in entries), default=EPOCH)
    _text(feed, "updated", stamp(newest))
    ET.SubElement(feed, "link", rel="self", type=MEDIA_TYPE, href=self_url)
    page = f"{base}tracks/{track.id}?version={track.version}"
    ET.SubElement(feed, "link", rel="alternate", type="text/html", href=page)
    _text(ET.SubElement(feed, "author"), "name", "NanoGPT speedrun leaderboard")
    _text(feed, "generator", "speedrun")
    for e in entries:
        _entry(feed, e, base)
    body: bytes = ET.tostring(feed, encoding="utf-8", xml_declaration=True)
    return body


def add_feed_route(router: APIRouter) -> None:
    @router.get("/tracks/{track}/records.atom")
    def records_feed(
        request: Request, session: SessionDep, state: StateDep, track: str
    ) -> Response:
        """The track's records as an Atom feed, newest first (every version)."""
        latest = catalog.track(track)  # TrackError: 404
        entries = feed_entries(session, state.cache, latest.id)
        body = render_feed(latest, entries, state.settings.site_url(str(request.base_url)))
        return Response(body, media_type=MEDIA_TYPE)
