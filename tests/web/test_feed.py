"""The records feed (Atom, RFC 4287): parses as XML, has the elements a feed reader needs
(ids stable from one request to the next and unique, `updated`, self and alternate links,
entries newest first), escapes submitters' text (markup, entities, characters XML cannot
hold), covers every version of the track, and is linked from the track page."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

from publish_helpers import small_site
from sqlalchemy import select

from server.models import Attempt, Record
from web import feed as atom

A = "{http://www.w3.org/2005/Atom}"
HOSTILE = "<script>alert('x')</script> & ]]> \x01\x0b bell\x07 Muon improvements"


def _feed(client, track="cpu-tiny"):
    answer = client.get(f"/tracks/{track}/records.atom")
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("application/atom+xml")
    return answer.content, ET.fromstring(answer.content)


def test_feed_is_valid_atom_newest_first(tmp_path):
    site = small_site(tmp_path)
    first = site.record("print('slow')\n", 4000.0)
    second = site.record("print('fast')\n", 2000.0)
    body, feed = _feed(site.client)
    assert feed.tag == f"{A}feed"
    for tag in ("title", "id", "updated", "author"):
        assert feed.find(f"{A}{tag}") is not None, tag
    links = {link.get("rel"): link.get("href") for link in feed.findall(f"{A}link")}
    assert links["self"] == "http://testserver/tracks/cpu-tiny/records.atom"
    assert links["alternate"] == "http://testserver/tracks/cpu-tiny?version=2"
    entries = feed.findall(f"{A}entry")
    hrefs = [e.find(f"{A}link[@rel='alternate']").get("href") for e in entries]
    assert hrefs == [f"http://testserver/records/{second}", f"http://testserver/records/{first}"]
    ids = [e.findtext(f"{A}id") for e in entries]
    assert len(set(ids)) == 2 and all(re.fullmatch(r"urn:uuid:[0-9a-f-]{36}", i) for i in ids)
    assert feed.findtext(f"{A}updated") == entries[0].findtext(f"{A}updated")
    assert re.fullmatch(
        r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z", entries[0].findtext(f"{A}updated")
    )
    assert _feed(site.client)[0] == body  # the same records, the same document


def test_submitters_text_is_escaped(tmp_path):
    site = small_site(tmp_path)
    record = site.record("print('a')\n", 3000.0)
    with site.app.state.speedrun.db.write() as session:
        attempt = session.scalar(select(Attempt).join(Record).where(Record.id == record))
        attempt.name, attempt.description = HOSTILE, HOSTILE
    site.app.state.speedrun.cache.invalidate()
    body, feed = _feed(site.client)
    assert b"<script>" not in body and b"&lt;script&gt;" in body
    title = feed.find(f"{A}entry").findtext(f"{A}title")
    assert "<script>alert('x')</script> & ]]>" in title  # parsed back: the text as given
    assert "\x01" not in title and "\x07" not in title


def test_what_xml_cannot_hold_is_dropped():
    assert atom.clean("a\x00b\x1b[31mc\ud800d\ufffee\U0001f600") == "ab[31mcde\U0001f600"
    assert atom.clean("tab\tnewline\n") == "tab\tnewline\n"


def test_feed_covers_every_version_and_the_track_page_links_it(tmp_path):
    site = small_site(tmp_path)
    _, feed = _feed(site.client)
    assert feed.findall(f"{A}entry") == []
    assert feed.findtext(f"{A}updated") == "1970-01-01T00:00:00Z"  # no record yet
    page = site.client.get("/tracks/cpu-tiny?version=1").text
    assert '<link rel="alternate" type="application/atom+xml"' in page
    assert 'href="/tracks/cpu-tiny/records.atom"' in page
    assert site.client.get("/tracks/no-such-track/records.atom").status_code == 404


def test_a_host_header_cannot_choose_the_links_readers_copy(tmp_path):
    # Record pages print `curl <site>/api/v1/attempts/N/source` and the feed links entries:
    # with the public address set, a request's Host header (a cache-poisoning lever) is ignored.
    site = small_site(tmp_path, public_url="https://speedrun.example")
    record = site.record("print('a')\n", 3000.0)
    evil = {"host": "evil.example"}
    page = site.client.get(f"/records/{record}", headers=evil).text
    assert "curl -fsSL https://speedrun.example/api/v1/attempts/" in page
    feed = site.client.get("/tracks/cpu-tiny/records.atom", headers=evil).text
    assert "https://speedrun.example/records/" in feed
    assert "evil.example" not in page and "evil.example" not in feed
    take_part = site.client.get("/take-part", headers=evil).text
    assert "https://speedrun.example/" in take_part and "evil.example" not in take_part
