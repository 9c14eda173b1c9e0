"""Assets under content-hashed names: the hash is the live server's (the same bytes, the same
version), and every reference in a page is rewritten to the hashed file."""

from __future__ import annotations

from importlib import resources
from pathlib import PurePosixPath

import pytest

from server.http_cache import asset_version
from web.publish import assets


def test_hashed_names_follow_the_content():
    assert assets.hashed_name("site.css", b"body{}") == f"site.{asset_version(b'body{}')}.css"
    assert assets.hashed_name("site.css", b"body{}") != assets.hashed_name("site.css", b"p{}")
    assert assets.hashed_name("LICENSE", b"x") == f"LICENSE.{asset_version(b'x')}"


def test_references_are_found_and_rewritten():
    css = (resources.files("web") / "static" / "site.css").read_bytes()
    ref = f"/static/site.css?v={asset_version(css)}"
    page = f'<link rel="stylesheet" href="{ref}"><a href="/static/other">no version</a>'
    assert assets.asset_refs(page) == {ref}
    assert assets.asset_path(ref) == "/static/site.css"
    target = assets.snapshot_path(ref, css)
    assert target == PurePosixPath("static", f"site.{asset_version(css)}.css")
    rewritten = assets.rewrite(page, lambda r: f"/{assets.snapshot_path(r, css)}")
    assert (
        rewritten
        == f'<link rel="stylesheet" href="/{target}"><a href="/static/other">no version</a>'
    )
    with pytest.raises(ValueError):
        assets.asset_path("/static/site.css")
