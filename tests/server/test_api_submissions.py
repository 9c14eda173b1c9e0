"""server.api.submissions: a submitter's token hands in a variant (201, a Location, the job
queued); the same code again joins the same attempt; a bad body, a missing token or an
unknown track is a problem and stores nothing; a submission reads back by id."""

from __future__ import annotations

from srv_helpers import assert_problem, row_counts
from support.bundles import TRACK

SOURCE = "from speedrun import harness\nprint('a')\n"


def post(client, token, **body):
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return client.post(
        "/api/v1/submissions", json={"track": TRACK, "source": SOURCE, **body}, headers=headers
    )


def test_a_submission_is_queued_and_reads_back(client, token) -> None:
    answer = post(client, token, description="faster")
    assert answer.status_code == 201
    body = answer.json()
    assert answer.headers["location"] == f"/api/v1/submissions/{body['id']}"
    assert body["track"]["id"] == TRACK and body["job"]["state"] == "PENDING"
    again = client.get(f"/api/v1/submissions/{body['id']}")
    assert again.status_code == 200 and again.json()["id"] == body["id"]


def test_the_same_code_joins_the_same_attempt(client, token) -> None:
    first = post(client, token).json()
    second = post(client, token, description="again").json()
    assert second["attempt_id"] == first["attempt_id"]


def test_refusals_store_nothing(client, db, token) -> None:
    before = row_counts(db)
    assert_problem(post(client, None), 401)
    assert_problem(post(client, "not-a-token"), 401)
    assert_problem(post(client, token, track="cpu-huge"), 422, "unknown-track")
    assert_problem(
        client.post(
            "/api/v1/submissions",
            content=b"{not json",
            headers={"Authorization": f"Bearer {token}"},
        ),
        422,
    )
    assert row_counts(db) == before


def test_unknown_submissions_are_404(client) -> None:
    assert_problem(client.get("/api/v1/submissions/4242"), 404)
