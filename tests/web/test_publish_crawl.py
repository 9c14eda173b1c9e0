"""The crawl through the real app: it stores every answer it reaches where the layout says,
renames assets in pages, follows links the way it is told (never links a submitter wrote),
and reports what it cannot store (an answer that is an error, a URL no file can stand for,
a name the disk refuses) and goes on."""

from __future__ import annotations

from pathlib import PurePosixPath

from fastapi.testclient import TestClient
from publish_helpers import BASE, publish, small_site
from sqlalchemy import select
from support.claims import submit

from server.models import Attempt, Record
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


def test_a_name_the_disk_refuses_is_reported_and_the_crawl_goes_on(tmp_path):
    site = small_site(tmp_path)
    record = site.record("print('a')\n", 3000.0)

    class FullDisk(SnapshotWriter):
        def write(self, rel: PurePosixPath, data: bytes, *, compress: bool) -> bool:
            if rel.as_posix().startswith("runs/"):
                raise OSError(36, "File name too long")
            return super().write(rel, data, compress=compress)

    writer = FullDisk(tmp_path / "snap")
    client = TestClient(site.app, base_url=BASE.rstrip("/"), raise_server_exceptions=False)
    report = Crawler(client, writer, BASE).run([f"/records/{record}"])
    refused = [url for url, why in report.failures if "File name too long" in why]
    assert len(refused) >= 3 and all(url.startswith("/runs/") for url in refused)
    assert (writer.root / f"records/{record}/index.html").is_file()
    assert (writer.root / f"api/v1/records/{record}/index.json").is_file()  # went on


def test_links_a_submitter_writes_never_steer_the_snapshot(tmp_path):
    # A description's same-site links once made every build fail for good (a query too long
    # for a file name: OSError), or fetched a whole bundle per render; a record's description
    # reached the crawl through the feed's text too.
    site = small_site(tmp_path)
    record = site.record("print('a')\n", 3000.0)
    run_id = site.client.get(f"/api/v1/records/{record}").json()["runs"][0]["run_id"]
    long_query = f"{BASE}?x={'A' * 300}"
    bundle = f"{BASE}api/v1/runs/{run_id}/bundle?x=1"
    submit(site.client, site.token, "print('b')\n", "cpu-tiny", f"see {long_query} and {bundle}")
    with site.app.state.speedrun.db.write() as session:
        attempt = session.scalar(select(Attempt).join(Record).where(Record.id == record))
        attempt.description = f'pwned href="/?q={"B" * 300}" and {long_query}'
    out = tmp_path / "out"
    report = publish(site.settings, out)
    assert report.failures == []
    names = [p.name for p in out.rglob("*")]
    assert not any("AAAA" in n or "BBBB" in n or "x=1" in n for n in names)
    page = next(out.glob("submissions/*/index.html")).read_text()
    assert "x=AAAA" in page  # the link is still shown to readers, only not crawled
    submit(site.client, site.token, "print('c')\n", "cpu-tiny", f"again {long_query}")
    assert publish(site.settings, out, incremental=True).failures == []
