"""server.middleware, through the real app: cached leaderboard answers are sent before
routing with a stable strong ETag; every write is charged to a bucket (the address pays when
no credential is sent) and reads never are; every response carries the security headers,
the API docs a policy of their own that allows only their inline script, by its hash."""

from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from srv_helpers import assert_problem
from support.bundles import TRACK

from server.app import create_app
from server.config import load_settings
from server.middleware import CSP, ETAG_MEMO, CachedLeaderboard, docs_csp
from server.services.cache import PageCache

BOARD = f"/api/v1/tracks/{TRACK}/leaderboard"


def test_a_cached_leaderboard_answer_keeps_its_etag(client: TestClient) -> None:
    first = client.get(BOARD)
    second = client.get(BOARD)
    assert first.status_code == second.status_code == 200
    assert first.content == second.content
    assert second.headers["etag"] == first.headers["etag"] and second.headers["etag"].startswith(
        '"'
    )
    assert second.headers["content-security-policy"] == CSP  # the outermost layer still adds it


def test_etags_are_memoised_per_body_and_bounded() -> None:
    mw = CachedLeaderboard(app=None, cache=PageCache(60.0))
    body = b'{"entries": []}'
    tag = mw.etag("k", body)
    assert mw.etag("k", body) is tag  # the same body object: not hashed again
    assert mw.etag("k", b'{"entries": [1]}') != tag
    for i in range(ETAG_MEMO + 10):
        mw.etag(i, body)
    assert len(mw._etags) == ETAG_MEMO


@pytest.fixture
def limited(db_url: str) -> Iterator[TestClient]:
    settings = load_settings(
        db=db_url, rate_limit_writes_per_s=0.001, rate_limit_burst=2, extra_record_backends=[]
    )
    with TestClient(create_app(settings)) as client:
        yield client


def test_writes_without_a_credential_are_charged_to_the_address(limited: TestClient) -> None:
    answers = [limited.post("/api/v1/runs", content=b"not a bundle") for _ in range(3)]
    assert all(a.status_code != 429 for a in answers[:2])  # the burst: refused as bad bundles
    refused = assert_problem(answers[2], 429)
    assert "address" in refused["detail"] and "retry-after" in answers[2].headers
    assert all(limited.get("/api/v1/tracks").status_code == 200 for _ in range(5))  # reads


def test_security_headers_everywhere_and_a_hashed_policy_for_the_docs(client: TestClient) -> None:
    for path in ("/api/v1/health", "/", "/api/v1/nowhere", "/no/such/page"):
        headers = client.get(path).headers
        assert headers["content-security-policy"] == CSP
        assert headers["x-frame-options"] == "DENY" and headers["referrer-policy"] == "no-referrer"
    docs = client.get("/docs")
    policy = docs.headers["content-security-policy"]
    [script] = re.findall(rb"<script>(.*?)</script>", docs.content, re.DOTALL)
    digest = base64.b64encode(hashlib.sha256(script).digest()).decode()
    assert (
        f"'sha256-{digest}'" in policy
        and "'unsafe-inline'" not in policy.split("script-src")[1].split(";")[0]
    )


def test_the_docs_policy_lists_each_inline_script() -> None:
    policy = docs_csp(b"<script>a()</script><p>x</p><script>b()</script>")
    assert policy.count("'sha256-") == 2 and "frame-ancestors 'none'" in policy
