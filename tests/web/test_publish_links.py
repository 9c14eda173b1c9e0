"""The links a crawl follows: every href and src, every choice of a GET form (as a browser
serializes it), the API's own link fields of a JSON answer (never a manifest's or a README's
text), and nothing off the site."""

from __future__ import annotations

import json

from web.publish import links

BASE = "http://site.test/"


def test_html_links_are_unescaped_and_forms_expanded():
    page = """
    <a href="/records/1">one</a> <link rel="icon" href="/static/favicon.svg?v=ab12cd">
    <a href="/tracks/x?version=2&amp;page=2" rel="next">next</a>
    <script src="/static/poll.js?v=0011aa" defer></script>
    <form class="filter" method="get" action="/tracks/x">
    <input type="hidden" name="version" value="2">
    <label for="e">Show</label><select id="e" name="evidence">
    <option value="all" selected>every record</option><option value="self-reported">self</option>
    </select><button type="submit">Filter</button></form>
    <form method="post" action="/api/v1/submissions"><input type="hidden" name="a" value="b">
    <select name="s"><option value="x">x</option></select></form>
    """
    found = list(links.html_links(page))
    assert found[:4] == [
        "/records/1",
        "/static/favicon.svg?v=ab12cd",
        "/tracks/x?version=2&page=2",
        "/static/poll.js?v=0011aa",
    ]
    assert found[4:] == [
        "/tracks/x?version=2&evidence=all",
        "/tracks/x?version=2&evidence=self-reported",
    ]  # the POST form submits nothing a static host could answer


def test_json_links_are_the_apis_own_fields():
    answer = {
        "url": "/api/v1/records/1",
        "page_url": "/records/1",
        "runs": [{"url": "/api/v1/runs/ab", "bundle_url": "/api/v1/runs/ab/bundle"}],
        "manifest": {"url": "/etc/passwd", "bundle_url": "/api/v1/evil"},
        "imported": {"links": [{"url": "/records/track_1_short/README.md"}]},
        "description": "/records/2 mentioned in text",
        "source_url": "https://elsewhere.example/x",
    }
    assert list(links.json_links(json.dumps(answer))) == [
        "/api/v1/records/1",
        "/records/1",
        "/api/v1/runs/ab",
        "/api/v1/runs/ab/bundle",
    ]
    assert list(links.json_links("not json")) == []


def test_same_site_keeps_the_site_and_drops_the_rest():
    page = "/records/1"
    assert links.same_site("/runs/a#log", page, BASE) == "/runs/a"
    assert links.same_site("http://site.test/records/2?x=1", page, BASE) == "/records/2?x=1"
    assert links.same_site("#curves", page, BASE) == "/records/1"
    assert links.same_site("2", page, BASE) == "/records/2"  # relative to the page
    for off in (
        "https://github.com/KellerJordan/modded-nanogpt",
        "//cdn.example/x.js",
        "mailto:a@b.c",
        "javascript:alert(1)",
        "https://site.test/records/1",  # another scheme is another origin
    ):
        assert links.same_site(off, page, BASE) is None, off


def test_links_people_wrote_are_not_followed():
    # web.text.linkify marks every URL of a description nofollow; so do imported README links
    page = """
    <a href="/records/1">ours</a>
    <p>see <a href="/?x=AAAA" rel="nofollow noopener noreferrer">/?x=AAAA</a> and
    <a rel="NOFOLLOW" href="/api/v1/runs/ab/bundle?x=1">b</a></p>
    <img src="/static/logo.svg" alt="">
    """
    assert list(links.html_links(page)) == ["/records/1", "/static/logo.svg"]


def test_a_feeds_links_are_its_link_elements_not_its_text():
    # ElementTree leaves `"` as it is in text: an entry's summary can read like an attribute
    feed = """<?xml version='1.0' encoding='utf-8'?>
    <feed xmlns="http://www.w3.org/2005/Atom"><link rel="self" href="http://site.test/f.atom" />
    <entry><link rel="alternate" type="text/html" href="http://site.test/records/2" />
    <summary>pwned href="/?q=BBBB" src="/x" &lt;a href="/?q=CCCC"&gt;</summary></entry></feed>
    """
    assert list(links.feed_links(feed)) == ["http://site.test/f.atom", "http://site.test/records/2"]
