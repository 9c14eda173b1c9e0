"""Where a live URL's answer lies in a snapshot: what a static server finds without
rewrites, and what no file can stand for."""

from __future__ import annotations

from pathlib import PurePosixPath

import pytest

from web.publish import layout

HTML, JSON = "text/html; charset=utf-8", "application/json"


@pytest.mark.parametrize(
    ("url", "kind", "path"),
    [
        ("/", HTML, "index.html"),
        ("/?hidden=1&evidence=signed", HTML, "index@hidden=1&evidence=signed.html"),
        ("/tracks/cpu-tiny?version=2", HTML, "tracks/cpu-tiny/index@version=2.html"),
        ("/tracks/cpu-tiny", HTML, "tracks/cpu-tiny/index.html"),
        ("/tracks/cpu-tiny/", HTML, "tracks/cpu-tiny/index.html"),
        ("/api/v1/records/7", JSON, "api/v1/records/7/index.json"),
        ("/api/v1/tracks?include_hidden=1", JSON, "api/v1/tracks/index@include_hidden=1.json"),
        ("/runs/ab12/log.txt", "text/plain", "runs/ab12/log.txt"),
        ("/api/v1/openapi.json", JSON, "api/v1/openapi.json"),
        ("/api/v1/attempts/3/source", "text/x-python", "api/v1/attempts/3/source"),
        ("/api/v1/runs/ab12/bundle", "application/gzip", "api/v1/runs/ab12/bundle"),
        ("/tracks/cpu-tiny/records.atom", "application/atom+xml", "tracks/cpu-tiny/records.atom"),
        ("/records/7#runs", HTML, "records/7/index.html"),  # a fragment is the browser's
    ],
)
def test_urls_map_to_files(url, kind, path):
    found = layout.file_for(url, kind)
    assert found == PurePosixPath(path)
    assert found in layout.candidates(url)
    if found.name.startswith("index"):
        page = url.split("#")[0]
        assert layout.page_url(found) == (page.rstrip("/") if len(page) > 1 else page)


@pytest.mark.parametrize(
    "url",
    [
        "https://example.org/records/1",  # another site
        "records/1",  # not absolute
        "/records/../../etc/passwd",
        "/records/%2e%2e/x",  # decoded, as the server decodes it
        "/a//b",
        "/.publish-state.json",  # the publisher's own
        "/tracks/x?a=/etc/passwd",  # a query no file name can hold
        "/tracks/x?" + "a" * 600,
        "/?x=" + "A" * 240,  # `index@x=AAA...html` would pass a file name's 255 bytes
        "/tracks/" + "%F0%9F%98%80" * 60,  # 60 characters, 240 bytes once decoded
        "/runs/ab12/log.txt?download=1",  # a file whose URL a static host cannot tell apart
    ],
)
def test_urls_no_file_can_stand_for_are_refused(url):
    with pytest.raises(layout.LayoutError):
        layout.file_for(url, "text/plain" if "log.txt" in url else HTML)


def test_page_url_inverts_index_files_only():
    assert layout.page_url(PurePosixPath("index@hidden=1.html")) == "/?hidden=1"
    assert layout.page_url(PurePosixPath("api/v1/runs/x/index.json")) == "/api/v1/runs/x"
    assert layout.page_url(PurePosixPath("runs/x/log.txt")) is None
    assert layout.page_url(PurePosixPath("static/site.0123.css")) is None
