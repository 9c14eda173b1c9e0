"""Rate limits on every write route, over real HTTP (uvicorn on loopback): a client bursting
past its bucket gets 429 problems with Retry-After; the client is its token or runner key
once checked, else its address, so other clients are unaffected and a forged credential
drains only its sender's address; reads are never limited. SQLite and PostgreSQL. The
bucket arithmetic, and the defaults against an agent's and a test suite's traffic, on a
simulated clock."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from srv_helpers import assert_problem, row_counts
from support.bundles import make_bundle
from support.serving import live_server

from server.app import create_app
from server.config import Settings, load_settings
from server.services import rate_limit
from server.services.agent_auth import sign_request
from server.services.rate_limit import TokenBuckets
from server.services.runners import add_runner
from server.services.tokens import create_token

BURST = 4
CLAIM = "/api/v1/jobs/claim"
SUBMISSION = {"track": "cpu-tiny", "source": "print('limited')\n"}


@pytest.fixture
def limited(settings: Settings) -> Iterator[tuple[httpx.Client, object]]:
    """The app with a bucket of BURST writes, refilled too slowly to matter in a test."""
    tight = load_settings(db=settings.db, rate_limit_burst=BURST, rate_limit_writes_per_s=0.001)
    app = create_app(tight)
    with live_server(app) as port, httpx.Client(base_url=f"http://127.0.0.1:{port}") as client:
        yield client, app.state.speedrun.db
    app.state.speedrun.db.dispose()


def runner(db, name: str) -> Ed25519PrivateKey:
    key = Ed25519PrivateKey.generate()
    with db.write() as session:
        add_runner(session, name, key.public_key())
    return key


def token(db, user: str) -> str:
    with db.write() as session:
        return create_token(session, user)[1]


def claim(client: httpx.Client, key: Ed25519PrivateKey) -> httpx.Response:
    return client.post(CLAIM, headers=sign_request(key, "POST", CLAIM, b""))


def submit(client: httpx.Client, bearer: str) -> httpx.Response:
    return client.post(
        "/api/v1/submissions", json=SUBMISSION, headers={"Authorization": f"Bearer {bearer}"}
    )


def limited_answer(response: httpx.Response) -> int:
    """The Retry-After of a 429 rate-limit problem."""
    assert_problem(response, 429, "rate-limited")
    return int(response.headers["Retry-After"])


def test_an_address_bursting_anonymous_uploads_is_limited_alone(limited):
    client, db = limited
    key, bearer = runner(db, "agent"), token(db, "alice")
    before = row_counts(db)
    assert [client.post("/api/v1/runs", content=b"junk").status_code for _ in range(BURST)] == [
        400
    ] * BURST
    wait = limited_answer(client.post("/api/v1/runs", content=make_bundle(key)))
    assert wait >= 1
    limited_answer(client.post("/api/v1/nowhere", content=b"x"))  # any write, any path
    assert row_counts(db) == before
    # Other clients on the same address: a checked token, a checked runner key.
    assert submit(client, bearer).status_code == 201
    assert claim(client, key).status_code == 200


def test_a_token_and_a_runner_key_each_have_their_own_bucket(limited):
    client, db = limited
    busy, calm = token(db, "busy"), token(db, "calm")
    codes = [submit(client, busy).status_code for _ in range(BURST)]
    assert codes == [201] * BURST
    limited_answer(submit(client, busy))
    assert submit(client, calm).status_code == 201
    eager, other = runner(db, "eager"), runner(db, "other")
    answers = [claim(client, eager) for _ in range(BURST)]
    assert all(a.status_code in (200, 204) for a in answers)
    limited_answer(claim(client, eager))
    assert claim(client, other).status_code in (200, 204)
    assert client.post("/api/v1/runs", content=b"junk").status_code == 400  # the address


def test_forged_credentials_drain_only_their_senders_address(limited):
    """Wrong tokens and bad signatures (under a real runner's public key id) are charged to
    the address they came from, never to the client they name."""
    client, db = limited
    real_token, real_key = token(db, "alice"), runner(db, "agent")
    forged_key = Ed25519PrivateKey.generate()
    forged = sign_request(forged_key, "POST", CLAIM, b"")
    forged["X-Speedrun-Key-Id"] = sign_request(real_key, "POST", CLAIM, b"")["X-Speedrun-Key-Id"]
    codes = [submit(client, "srt_forged").status_code for _ in range(BURST // 2)]
    codes += [client.post(CLAIM, headers=forged).status_code for _ in range(BURST // 2)]
    assert codes == [401] * BURST
    limited_answer(submit(client, "srt_forged"))
    limited_answer(client.post(CLAIM, headers=sign_request(forged_key, "POST", CLAIM, b"")))
    assert submit(client, real_token).status_code == 201
    assert claim(client, real_key).status_code == 200


def test_reads_are_never_limited(limited):
    client, _ = limited
    for _ in range(BURST + 1):
        client.post("/api/v1/runs", content=b"junk")
    limited_answer(client.post("/api/v1/runs", content=b"junk"))
    paths = ["/api/v1/health", "/api/v1/runners", "/api/v1/jobs", "/", "/tracks/cpu-tiny"]
    for _ in range(10):
        assert all(client.get(p).status_code == 200 for p in paths)
    assert client.head("/api/v1/health").status_code in (200, 405)


def test_the_bucket_refills_and_says_when():
    buckets = TokenBuckets(rate_per_s=2.0, burst=3)
    assert [buckets.take("a", now=0.0) for _ in range(3)] == [None] * 3
    assert buckets.take("a", now=0.0) == pytest.approx(0.5)  # half a second to one token
    assert buckets.take("b", now=0.0) is None
    assert buckets.take("a", now=0.5) is None
    assert buckets.take("a", now=0.6) == pytest.approx(0.4)
    assert [buckets.take("a", now=100.0) for _ in range(4)] == [
        None,
        None,
        None,
        pytest.approx(0.5),
    ]


def test_buckets_are_bounded(monkeypatch):
    monkeypatch.setattr(rate_limit, "MAX_CLIENTS", 100)
    buckets = TokenBuckets(rate_per_s=1.0, burst=1)
    for i in range(1000):
        buckets.take(f"client {i}", now=0.0)
    assert len(buckets._buckets) == 100


def test_the_defaults_leave_an_agent_and_a_test_suite_well_under():
    """An agent polling every second for an hour, with heartbeats and uploads, and a fuzz
    burst of 200 writes in 10 s from one address (the schema fuzz sends about 150 writes
    without a checked credential), are never refused by the default buckets."""
    defaults = Settings()
    buckets = TokenBuckets(defaults.rate_limit_writes_per_s, defaults.rate_limit_burst)
    for second in range(3600):
        assert buckets.take("agent", now=float(second)) is None
        if second % 30 == 0:
            assert buckets.take("agent", now=second + 0.5) is None  # heartbeat, upload
    assert all(buckets.take("fuzz", now=0.05 * i) is None for i in range(200))
