"""The crawl through the real app: it stores every answer it reaches where the layout says,
renames assets in pages, follows links the way it is told, and reports what it cannot store
(an answer that is an error, a URL no file can stand for) and goes on."""

from __future__ import annotations

from pathlib import PurePosixPath

from fastapi.testclient import TestClient
from publish_helpers import BASE, small_site

from web.publish import layout
from web.publish.crawl import Crawler
from web.publish.writer import SnapshotWriter


def test_crawl_stores_what_it_reaches_and_reports_what_it_cannot(tmp_path):
    site = small_site(tmp_path)
    record = site.record("print('a')\n", 3000.0)
    writer = SnapshotWriter(tmp_path / "snap")
    client = TestClient(site.app, base_url=BASE.rstrip("/"), raise_server_exceptions=False)
    crawler = Crawler(client, writer, BASE, follow=lambda url: url.startswith("/runs/"))
    report = crawler.run([f"/records/{record}", "/records/999999", "/runs/x/log.txt?a=b"])
    assert report.failures[0] == ("/records/999999", "HTTP 404")
    assert report.failures[1][0] == "/runs/x/log.txt?a=b"
    stored = {p.as_posix() for p in writer.kept}
    assert f"records/{record}/index.html" in stored
    runs = [p for p in stored if p.startswith("runs/") and p.endswith("index.html")]
    assert len(runs) == 3  # the record's runs, followed; their JSON twins were not
    assert not any(p.startswith("api/v1/runs/") for p in stored)
    css = [p for p in stored if p.startswith("static/site.")]
    assert len(css) == 1  # fetched once, for the first page that named it
    page = (writer.root / f"records/{record}/index.html").read_text()
    assert f'href="/{css[0]}"' in page and "?v=" not in page


def test_provided_urls_are_linked_not_fetched(tmp_path):
    writer = SnapshotWriter(tmp_path)
    writer.write(PurePosixPath("data/bundles/ab.tar.gz"), b"bundle", compress=False)

    class NoClient:
        def get(self, url, **kw):
            raise AssertionError(f"fetched {url}")

    url = "/api/v1/runs/ab/bundle"
    crawler = Crawler(
        NoClient(), writer, BASE, provided={url: PurePosixPath("data/bundles/ab.tar.gz")}
    )
    assert crawler.run([url]).failures == []
    stored = writer.root / layout.file_for(url, "application/gzip")
    assert stored.samefile(writer.root / "data/bundles/ab.tar.gz")
