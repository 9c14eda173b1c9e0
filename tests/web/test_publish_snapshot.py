"""`speedrun publish`'s whole snapshot, served by a real nginx with the repository's own
configuration (docker/nginx/snapshot.conf), the live server behind it:

* of a small site: every entity's page and JSON twin, assets under hashed names with every
  reference rewritten, compressed copies that decompress to their file, bundles as second
  names of the open data's files;
* of the web tests' site (bundles made by the real runner, and the speedrun's imported
  history): every link in the snapshot resolves through nginx (no 404, nothing passed to the
  server but the API docs), headless Chromium finds the same tables and charts on the
  snapshot as on the live server (index, track pages, record pages), the Parquet files read
  back with the API's counts and figures, gzip_static and conditional requests work, and
  writes pass through to the server.
"""

from __future__ import annotations

import gzip
import json
import os
import shutil
import subprocess
import sys
from collections import deque
from pathlib import Path

import brotli
import httpx
import pytest
from publish_helpers import comparable, files, page_links, publish, small_site
from support import nginx
from support.claims import submit
from support.open_data import check_open_data
from web_helpers import REPO

from web.publish import assets, layout

# --- a small site ------------------------------------------------------------------------


def test_a_snapshot_holds_every_page_its_twin_and_the_open_data(tmp_path):
    site = small_site(tmp_path)
    record = site.record("print('a')\n", 3000.0)
    queued = submit(site.client, site.token, "print('queued')\n", "cpu-tiny")["id"]
    out = tmp_path / "snapshot"
    report = publish(site.settings, out)
    assert report.full and report.failures == [] and report.bundles == 3
    run_id = site.client.get(f"/api/v1/records/{record}").json()["runs"][0]["run_id"]
    for url, kind in (
        (f"/records/{record}", "text/html"),
        (f"/api/v1/records/{record}", "application/json"),
        (f"/runs/{run_id}", "text/html"),
        (f"/api/v1/runs/{run_id}", "application/json"),
        (f"/submissions/{queued}", "text/html"),
        (f"/api/v1/submissions/{queued}", "application/json"),
        ("/tracks/cpu-tiny?version=2", "text/html"),
        ("/tracks/cpu-tiny?version=2&evidence=signed", "text/html"),  # the filter form's
        ("/api/v1/tracks/cpu-tiny/leaderboard?version=2&limit=100&offset=0", "application/json"),
    ):
        rel = layout.file_for(url, kind)
        stored, live = (out / rel).read_bytes(), site.client.get(url).content
        if kind == "application/json":  # pages differ from live in their asset names
            assert comparable(str(rel), stored) == comparable(str(rel), live), url
    bundle = out / layout.file_for(f"/api/v1/runs/{run_id}/bundle", "application/gzip")
    assert bundle.samefile(out / "data" / "bundles" / f"{run_id}.tar.gz")
    assert bundle.read_bytes() == site.client.get(f"/api/v1/runs/{run_id}/bundle").content
    index = json.loads((out / "data" / "index.json").read_text())
    assert {f["path"] for f in index["files"]} == {
        f"{n}.parquet" for n in ("runs", "records", "attempts")
    }
    assert (out / "data" / "README.md").read_text().startswith("# Open data")


def test_assets_are_hashed_and_copies_decompress_to_their_file(tmp_path):
    site = small_site(tmp_path)
    site.record("print('a')\n", 3000.0)
    out = tmp_path / "snapshot"
    publish(site.settings, out)
    everything = files(out)
    css = [p for p in everything if p.startswith("static/site.") and p.endswith(".css")]
    assert len(css) == 1 and assets.hashed_name("site.css", everything[css[0]]) in css[0]
    for path, data in everything.items():
        if path.endswith(".html"):
            assert "?v=" not in data.decode(), f"{path} names an unhashed asset"
            assert f'href="/{css[0]}"' in data.decode() or path == "docs/index.html", path
        elif path.endswith(".gz") and path[:-3] in everything:  # not a bundle (.tar.gz)
            assert gzip.decompress(data) == everything[path[:-3]], path
        elif path.endswith(".br"):
            assert brotli.decompress(data) == everything[path[:-3]], path
    assert sum(p.endswith(".gz") for p in everything) > 50


# --- the web tests' site, through nginx and Chromium --------------------------------------

BROWSER_PAGES = 3  # index, a track page, a record page: each live and from the snapshot


def _publish_with_the_cli(site, out: Path, base: str) -> None:
    env = {
        **os.environ,
        "SPEEDRUN_EXTRA_RECORD_BACKENDS": '["local"]',
        "SPEEDRUN_SUBMISSIONS_TO_HIDDEN_TRACKS": "1",
    }
    cmd = [sys.executable, "-m", "speedrun.cli", "publish", "--out", str(out)]
    cmd += ["--db", site.db_url, "--base-url", base]
    done = subprocess.run(cmd, env=env, cwd=REPO, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.startswith("snapshot: ") and " 0 failures" in done.stdout


def _crawl(base: str) -> dict[str, httpx.Response]:
    """Every same-site link reachable from `/` through nginx, with its answer."""
    answers: dict[str, httpx.Response] = {}
    queue = deque(["/"])
    with httpx.Client(base_url=base, timeout=30) as client:
        while queue:
            url = queue.popleft()
            if url in answers:
                continue
            answers[url] = answer = client.get(url)
            kind = answer.headers.get("content-type", "")
            found = page_links(answer.text) if "html" in kind or "atom" in kind else []
            if "json" in kind and url.startswith("/api/"):
                found = _json_urls(answer.json())
            for link in found:
                absolute = httpx.URL(base).join(httpx.URL(base + url).join(link))
                if absolute.host == "127.0.0.1" and absolute.port == httpx.URL(base).port:
                    queue.append(absolute.raw_path.decode())
    return answers


def _json_urls(value) -> list[str]:
    keys = ("url", "page_url", "leaderboard_url", "source_url", "bundle_url", "attempt_url")
    if isinstance(value, dict):
        out = [v for k, v in value.items() if k in keys and isinstance(v, str)]
        # A manifest and an imported record's README links are other people's text.
        inner = [v for k, v in value.items() if k not in ("manifest", "imported")]
        return out + [u for v in inner for u in _json_urls(v)]
    if isinstance(value, list):
        return [u for v in value for u in _json_urls(v)]
    return []


SHAPE = """
const text = (e) => (e ? e.textContent.replace(/\\s+/g, ' ').trim() : '');
return {
  title: document.title,
  tables: [...document.querySelectorAll('table')].map(t => ({
    id: t.id, caption: text(t.caption),
    rows: [...t.querySelectorAll('tbody tr')].map(r => text(r.cells[0]) + '|' + text(r.cells[1])),
  })),
  charts: [...document.querySelectorAll('svg.chart')].map(s => ({
    cls: s.getAttribute('class'), id: s.id, title: text(s.querySelector('title')),
    marks: s.querySelectorAll('polyline, path, circle, rect').length,
  })),
  styled: getComputedStyle(document.querySelector('header.site')).backgroundColor,
  sheets: document.styleSheets.length,
};
"""


def _shape(browser, url: str) -> dict:
    browser.get(url)
    return browser.execute_script(SHAPE)


@pytest.mark.slow
@pytest.mark.browser
@pytest.mark.timeout(1800)  # the session's real bundles come first (minutes of training)
def test_the_snapshot_served_by_nginx_is_the_live_site(site, browser):
    if nginx.nginx_missing():
        pytest.skip(nginx.nginx_missing())
    out = nginx.readable_dir("snapshot-")
    try:
        port = nginx.free_port()
        base = f"http://127.0.0.1:{port}"
        _publish_with_the_cli(site, out, base + "/")
        live_port = httpx.URL(site.base).port
        with nginx.serving(out, upstream_port=live_port, port=port):
            _every_link_resolves(base)
            _same_tables_and_charts(site, browser, base)
            _open_data_matches_the_api(site, base, out)
            _served_as_a_static_host_should(base, out)
    finally:
        shutil.rmtree(out, ignore_errors=True)


def _every_link_resolves(base: str) -> None:
    answers = _crawl(base)
    broken = {u: a.status_code for u, a in answers.items() if a.status_code != 200}
    assert broken == {}, f"{len(broken)} links do not resolve: {sorted(broken)[:10]}"
    passed = sorted(u for u, a in answers.items() if a.headers.get("x-snapshot") == "pass")
    assert passed == ["/docs"], f"answered by the server, not the snapshot: {passed[:10]}"
    kinds = {u.split("?")[0].split("/")[1] for u in answers}
    assert {"tracks", "records", "runs", "api", "static", "docs"} <= kinds
    assert len(answers) > 300


def _same_tables_and_charts(site, browser, base: str) -> None:
    board = site.api("/api/v1/tracks/cpu-smoke/leaderboard")["entries"]
    imported = site.api("/api/v1/tracks/modded-nanogpt-short/leaderboard")["entries"]
    pages = ["/", "/tracks/cpu-smoke?version=2", f"/records/{board[0]['record_id']}"]
    if imported:
        pages += ["/tracks/modded-nanogpt-short?version=1", f"/records/{imported[0]['record_id']}"]
    for page in pages:
        live, snap = _shape(browser, site.base + page), _shape(browser, base + page)
        assert snap == live, page
        assert live["tables"] and live["charts"] and live["sheets"] >= 1, page


def _open_data_matches_the_api(site, base: str, out: Path) -> None:
    folder = out.parent / f"{out.name}-download"
    folder.mkdir()
    try:
        for name in ("runs", "records", "attempts"):
            answer = httpx.get(f"{base}/data/{name}.parquet")
            assert answer.status_code == 200
            (folder / f"{name}.parquet").write_bytes(answer.content)
        counts = check_open_data(folder, site.api)
        assert counts["records"] >= 2 and counts["runs"] >= 6
        index = httpx.get(f"{base}/data/bundles/index.json").json()
        assert index["count"] == sum(1 for p in (out / "data" / "bundles").glob("*.tar.gz"))
    finally:
        shutil.rmtree(folder)


def _served_as_a_static_host_should(base: str, out: Path) -> None:
    page = "/tracks/cpu-smoke?version=2"
    path = out / layout.file_for(page, "text/html")
    zipped = httpx.get(base + page, headers={"Accept-Encoding": "gzip"})
    assert zipped.headers["content-encoding"] == "gzip"
    assert zipped.content == path.read_bytes()  # httpx decompressed the .gz copy
    plain = httpx.get(base + page, headers={"Accept-Encoding": "identity"})
    assert "content-encoding" not in plain.headers and plain.content == path.read_bytes()
    for sent, answer in (("identity", plain), ("gzip", zipped)):  # each file its own ETag
        tag = answer.headers["etag"]
        again = httpx.get(base + page, headers={"If-None-Match": tag, "Accept-Encoding": sent})
        assert again.status_code == 304, sent
    assert "default-src 'self'" in plain.headers["content-security-policy"]
    assert httpx.get(base + "/.publish-state.json").status_code == 404
    odd = httpx.get(base + "/?a=/../../../etc/passwd")  # a query no snapshot file is named by
    assert odd.headers.get("x-snapshot") == "pass" and "root:" not in odd.text
    write = httpx.post(base + "/api/v1/runs", content=b"not a bundle")
    assert write.headers.get("x-snapshot") == "pass" and 400 <= write.status_code < 500
    assert write.headers["content-type"].startswith("application/problem+json")
