"""Replay protection that holds across workers and restarts: the nonces of signed agent
requests live in the database, so the same signed request is accepted once, whichever app
instance (worker) on the database sees it, before or after a restart, and two workers that
receive it at the same moment cannot both accept it. SQLite and PostgreSQL."""

from __future__ import annotations

import threading
import time
from datetime import timedelta

import httpx
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from srv_helpers import assert_problem
from support.serving import live_server

from server.app import create_app
from server.models import AgentNonce, utcnow
from server.services.agent_auth import sign_request

CLAIM = "/api/v1/jobs/claim"


def _worker(settings):
    return create_app(settings)


def test_a_request_replayed_to_another_worker_is_refused(settings, client, runner_key):
    headers = sign_request(runner_key, "POST", CLAIM, b"")
    assert client.post(CLAIM, headers=headers).status_code == 204
    other = _worker(settings)
    with TestClient(other) as second:
        body = assert_problem(second.post(CLAIM, headers=headers), 401, "replayed-signature")
        assert "used before" in body["detail"]
    other.state.speedrun.db.dispose()


def test_a_request_replayed_after_a_restart_is_refused(settings, runner_key, db):
    headers = sign_request(runner_key, "POST", CLAIM, b"")
    first = _worker(settings)
    with TestClient(first) as c:
        assert c.post(CLAIM, headers=headers).status_code == 204
    first.state.speedrun.db.dispose()  # the process is gone; the database stays
    restarted = _worker(settings)
    with TestClient(restarted) as c:
        assert_problem(c.post(CLAIM, headers=headers), 401, "replayed-signature")
        fresh = sign_request(runner_key, "POST", CLAIM, b"")
        assert c.post(CLAIM, headers=fresh).status_code == 204  # a new nonce is fine
    restarted.state.speedrun.db.dispose()


def test_two_workers_receiving_one_request_at_once_accept_it_once(settings, runner_key):
    apps = [_worker(settings), _worker(settings)]
    headers = sign_request(runner_key, "POST", CLAIM, b"")
    statuses: list[int] = []
    with live_server(apps[0]) as port_a, live_server(apps[1]) as port_b:
        start = threading.Barrier(8)

        def send(port: int) -> None:
            with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30) as c:
                start.wait()
                statuses.append(c.post(CLAIM, headers=headers).status_code)

        threads = [threading.Thread(target=send, args=(p,)) for p in [port_a, port_b] * 4]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    for app in apps:
        app.state.speedrun.db.dispose()
    assert sorted(statuses) == [204] + [401] * 7


def test_a_timestamp_out_of_the_window_is_refused(settings, client, runner_key):
    skew = settings.signature_skew_s
    for stamp in (int(time.time()) - skew - 5, int(time.time()) + skew + 5):
        headers = sign_request(runner_key, "POST", CLAIM, b"", timestamp=stamp)
        body = assert_problem(client.post(CLAIM, headers=headers), 401, "stale-signature")
        assert f"{skew} s" in body["detail"]


def test_expired_nonces_are_purged_as_requests_come_in(client, db, runner_key):
    with db.write() as session:
        old = utcnow() - timedelta(seconds=1)
        session.add_all(
            AgentNonce(key_id="k" * 16, nonce=f"n{i:08d}", expires_at=old) for i in range(50)
        )
    assert (
        client.post(CLAIM, headers=sign_request(runner_key, "POST", CLAIM, b"")).status_code == 204
    )
    with db.reader() as session:
        left = list(session.execute(select(AgentNonce.key_id, AgentNonce.expires_at)))
        assert session.scalar(select(func.count()).select_from(AgentNonce)) == 1
    assert left[0][0] != "k" * 16 and left[0][1] > utcnow()
