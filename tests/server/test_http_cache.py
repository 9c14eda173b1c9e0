"""Conditional requests (`server.http_cache`): the If-None-Match parser and the caching rules
on their own, then the whole app on SQLite: every page kind and JSON answer carries a strong
ETag and its Cache-Control, a repeat with that tag gets 304 and no body, HEAD answers as GET
without the body, a new record changes the tags, hostile header values are answered in full,
and writes, errors and credentialed reads are never stored by a shared cache."""

from __future__ import annotations

import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from fastapi.testclient import TestClient
from support.bundles import TRACK, claim_runs, make_bundle

from server.app import create_app
from server.config import load_settings
from server.http_cache import (
    IMMUTABLE,
    MAX_FIELD_BYTES,
    MAX_TAGS,
    PRIVATE,
    REVALIDATE,
    STATIC_SHORT,
    asset_version,
    cache_control,
    entity_tags,
    if_none_match,
    strong_etag,
    tag_matches,
)
from server.services.runners import add_runner
from server.services.tokens import create_token

# --- the parser and the rules ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "tags"),
    [
        (b'"a"', [b"a"]),
        (b'W/"a"', [b"a"]),
        (b' "a" ,W/"b",, "c" ', [b"a", b"b", b"c"]),  # empty list elements are allowed
        (b'"with,comma"', [b"with,comma"]),  # etagc includes the comma
        (b"", []),
        (b'""', [b""]),
    ],
)
def test_entity_tag_lists_parse(value: bytes, tags: list[bytes]) -> None:
    assert entity_tags(value) == tags


@pytest.mark.parametrize(
    "value",
    [
        b"abc",  # not quoted
        b'"unterminated',
        b'w/"a"',  # W/ is case-sensitive
        b'"a" "b"',  # no comma between
        b'"a\x00b"',  # control characters are not etagc
        b'"a b"',  # nor is the space
        b'"a";q=1',
        b"\xff\xfe\x00garbage",
        b'"' + b"a" * MAX_FIELD_BYTES + b'"',  # over the size it reads
        b", ".join([b'"t"'] * (MAX_TAGS + 1)),  # over the tags it compares
    ],
)
def test_anything_else_is_ignored(value: bytes) -> None:
    assert entity_tags(value) is None


def test_star_several_lines_and_absence() -> None:
    assert if_none_match([b" * "]) is True
    assert if_none_match([b'"a"', b'W/"b"']) == [b"a", b"b"]
    assert if_none_match([]) is None
    assert if_none_match([b'"a"', b"*"]) is None  # `*` is alone or not at all


def test_weak_comparison() -> None:
    tag = strong_etag(b"body")
    opaque = tag.strip(b'"')
    assert tag_matches([opaque], tag) and tag_matches([opaque], b"W/" + tag)
    assert tag_matches(True, tag)
    assert not tag_matches([b"other"], tag)
    assert not tag_matches(None, tag) and not tag_matches(True, None)
    assert strong_etag(b"body") == tag and strong_etag(b"body!") != tag


def test_cache_control_by_kind() -> None:
    versions = {"site.css": asset_version(b"css")}
    good = f"v={versions['site.css']}".encode()
    assert cache_control("/static/site.css", good, False, versions) == IMMUTABLE
    assert cache_control("/static/site.css", b"v=0123456789ab", False, versions) == STATIC_SHORT
    assert cache_control("/static/site.css", b"", False, versions) == STATIC_SHORT
    assert cache_control("/static/../x", good, False, versions) == STATIC_SHORT
    assert cache_control("/", b"", False, {}) == b"public, max-age=30"
    assert cache_control("/tracks/cpu-tiny", b"page=2", False, {}) == b"public, max-age=30"
    assert cache_control("/records/3", b"", False, {}) == b"public, max-age=120"
    assert cache_control("/runs/abc", b"", False, {}) == b"public, max-age=600"
    assert cache_control("/runs/abc/log.txt", b"", False, {}) == b"public, max-age=86400"
    assert cache_control("/submissions/1", b"", False, {}) == REVALIDATE
    assert cache_control("/api/v1/tracks", b"", False, {}) == REVALIDATE
    for path in ("/", "/api/v1/tracks", "/static/site.css"):
        assert cache_control(path, good, True, versions) == PRIVATE


# --- the app ---------------------------------------------------------------------------------


class Site:
    def __init__(self, client: TestClient, app: Any, key: Ed25519PrivateKey, token: str) -> None:
        self.client, self.app, self.key, self.token = client, app, key, token
        self.pages: dict[str, str] = {}


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory, sqlite_template: Path) -> Iterator[Site]:
    path = tmp_path_factory.mktemp("http-cache") / "speedrun.db"
    shutil.copyfile(sqlite_template, path)
    settings = load_settings(db=f"sqlite:///{path}", leaderboard_cache_ttl_s=60.0)
    app = create_app(settings)
    key = Ed25519PrivateKey.generate()
    with app.state.speedrun.db.write() as s:
        add_runner(s, "ci-runner", key.public_key())
        token = create_token(s, "alice")[1]
    with TestClient(app) as client:
        site = Site(client, app, key, token)
        claim = claim_runs(client, key, token, "print('first')\n", [1000.0, 1001.0, 1002.0])
        (record,) = claim.records
        run_id = claim.answers[0]["run_id"]
        sub = claim.submission["id"]
        site.pages = {
            "index": "/",
            "track": f"/tracks/{TRACK}",
            "record": f"/records/{record}",
            "run": f"/runs/{run_id}",
            "log": f"/runs/{run_id}/log.txt",
            "submission": f"/submissions/{sub}",
            "tracks.json": "/api/v1/tracks",
            "leaderboard.json": f"/api/v1/tracks/{TRACK}/leaderboard",
            "record.json": f"/api/v1/records/{record}",
            "run.json": f"/api/v1/runs/{run_id}",
            "submission.json": f"/api/v1/submissions/{sub}",
        }
        yield site
    app.state.speedrun.db.dispose()


def test_every_page_and_json_answer_has_an_etag_and_a_304(site: Site) -> None:
    for name, path in site.pages.items():
        first = site.client.get(path)
        assert first.status_code == 200, (name, first.text[:300])
        tag = first.headers["etag"]
        assert re.fullmatch(r'"[0-9a-f]{32}"', tag), (name, tag)
        assert site.client.get(path).headers["etag"] == tag, f"{name}: the tag is not stable"
        again = site.client.get(path, headers={"If-None-Match": tag})
        assert again.status_code == 304, name
        assert again.content == b"", name
        assert again.headers["etag"] == tag, name
        assert again.headers["cache-control"] == first.headers["cache-control"], name
        assert "content-type" not in again.headers, name
        assert again.headers["content-security-policy"], name  # the outer layer still runs


def test_cache_control_per_page_kind(site: Site) -> None:
    expected = {
        "index": "public, max-age=30",
        "track": "public, max-age=30",
        "record": "public, max-age=120",
        "run": "public, max-age=600",
        "log": "public, max-age=86400",
        "submission": "public, no-cache",
    }
    for name, path in site.pages.items():
        answer = site.client.get(path)
        want = expected.get(name, "public, no-cache")  # the JSON API: revalidate every time
        assert answer.headers["cache-control"] == want, name
        if not path.startswith("/api/"):
            assert answer.headers["vary"] == "Accept", name  # Accept: JSON redirects


def test_static_assets_under_their_hashed_names_are_immutable(site: Site) -> None:
    html = site.client.get("/").text
    css = re.search(r'href="(/static/site\.css\?v=[0-9a-f]{12})"', html)
    assert css is not None
    answer = site.client.get(css.group(1))
    assert answer.headers["cache-control"] == IMMUTABLE.decode()
    assert (
        site.client.get(css.group(1), headers={"If-None-Match": answer.headers["etag"]}).status_code
        == 304
    )
    stale = site.client.get("/static/site.css?v=000000000000")
    assert stale.status_code == 200 and stale.headers["cache-control"] == STATIC_SHORT.decode()


def test_weak_star_and_lists_match_other_tags_do_not(site: Site) -> None:
    path = site.pages["record"]
    tag = site.client.get(path).headers["etag"]
    for header in (f"W/{tag}", "*", f'"nope", {tag}, W/"other"', f" {tag} ,"):
        assert site.client.get(path, headers={"If-None-Match": header}).status_code == 304, header
    for header in ('"nope"', f'W/{tag[:-2]}"', tag.strip('"')):
        assert site.client.get(path, headers={"If-None-Match": header}).status_code == 200, header


def test_head_answers_as_get_without_a_body(site: Site) -> None:
    for name, path in site.pages.items():
        get, head = site.client.get(path), site.client.head(path)
        assert head.status_code == 200, name
        assert head.content == b"", name
        assert head.headers["etag"] == get.headers["etag"], name
        assert head.headers["content-length"] == str(len(get.content)), name
        tagged = site.client.head(path, headers={"If-None-Match": get.headers["etag"]})
        assert tagged.status_code == 304, name


def test_hostile_if_none_match_values_get_the_full_answer(site: Site) -> None:
    path = site.pages["leaderboard.json"]
    full = site.client.get(path)
    tag = full.headers["etag"]
    for header in (
        tag + ", " + '"x", ' * 10_000,  # a huge list, the right tag first
        "*" * 100_000,
        "garbage \x7f",
        'W/"' + "a" * 50_000,
        "\"'; DROP TABLE runs; --",
    ):
        answer = site.client.get(path, headers={"If-None-Match": header})
        assert answer.status_code == 200 and answer.content == full.content


def test_a_new_record_changes_the_tags(site: Site) -> None:
    paths = [site.pages["index"], site.pages["track"], site.pages["leaderboard.json"]]
    before = {p: site.client.get(p).headers["etag"] for p in paths}
    claim_runs(site.client, site.key, site.token, "print('faster')\n", [500.0, 501.0, 502.0])
    for p in paths:
        answer = site.client.get(p, headers={"If-None-Match": before[p]})
        assert answer.status_code == 200, p
        assert answer.headers["etag"] != before[p], p


def test_writes_errors_and_credentials_are_not_stored(site: Site) -> None:
    star = {"If-None-Match": "*"}
    missing = site.client.get("/records/999999", headers=star)
    assert missing.status_code == 404 and missing.headers["cache-control"] == "no-store"
    assert "etag" not in missing.headers
    api_missing = site.client.get("/api/v1/runs/nope", headers=star)
    assert api_missing.status_code == 404 and api_missing.headers["cache-control"] == "no-store"
    bad = site.client.post("/api/v1/runs", content=b"not a bundle", headers=star)
    assert bad.status_code in (400, 413, 422) and bad.headers["cache-control"] == "no-store"
    assert "etag" not in bad.headers
    ok = site.client.post(
        "/api/v1/runs",
        content=make_bundle(site.key, source="print('loose')\n"),
        headers=star,
    )
    assert ok.status_code == 201 and ok.headers["cache-control"] == "no-store"
    assert "etag" not in ok.headers and ok.json()["run_id"]
    authed = site.client.get(
        site.pages["submission.json"], headers={"Authorization": f"Bearer {site.token}"}
    )
    assert authed.headers["cache-control"] == "private, no-cache"
    redirect = site.client.get(site.pages["record"] + ".json", follow_redirects=False)
    assert redirect.status_code == 307 and redirect.headers["cache-control"] == "no-store"
