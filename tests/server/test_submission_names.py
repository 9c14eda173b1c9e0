"""Human names (migration 0010): a submission's name is checked (`speedrun.names`), stored
with the submission, names its attempt when the attempt is the submitter's, and so the job,
the runs and the record made from them; the JSON answers and pages show it, the code's hash
beside it. A bad name is one 422 naming what is wrong, and stores nothing. On SQLite and
PostgreSQL (the server conftest's `client`)."""

from __future__ import annotations

import pytest
from srv_helpers import assert_problem, row_counts
from support.bundles import TRACK, claim_runs, make_bundle
from support.claims import submit

from server.services.tokens import create_token

NAME = "Muon improvements"


def _auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_the_name_goes_from_the_submission_to_the_record(client, runner_key, token):
    claim = claim_runs(client, runner_key, token, "print('named')\n", [1000.0, 1001.0, 1002.0])
    assert claim.submission["name"] is None  # claim_runs gives none: the hash stands in
    named = submit(client, token, "print('muon')\n", TRACK, name=f"  {NAME}  ")
    assert named["name"] == NAME and named["job"]["name"] == NAME  # trimmed
    sub = client.get(f"/api/v1/submissions/{named['id']}").json()
    assert sub["name"] == NAME and sub["job"]["name"] == NAME
    assert client.get(f"/api/v1/attempts/{named['attempt_id']}").json()["name"] == NAME
    lease = client.get(f"/api/v1/submissions/{named['id']}").json()["job"]
    assert lease["name"] == NAME

    # the same code again, run to a record: its runs, the record and the board carry the name
    done = claim_runs(client, runner_key, token, "print('muon')\n", [500.0, 501.0, 502.0])
    assert done.attempt_id == named["attempt_id"]
    (record_id,) = done.records
    record = client.get(f"/api/v1/records/{record_id}").json()
    assert record["name"] == NAME
    run = client.get(f"/api/v1/runs/{done.answers[0]['run_id']}").json()
    assert run["name"] == NAME
    board = client.get(f"/api/v1/tracks/{TRACK}/leaderboard").json()["entries"]
    assert [e["name"] for e in board if e["record_id"] == record_id] == [NAME]

    page = client.get(f"/records/{record_id}").text
    assert f"<h1>{NAME}" in page and record["variant_sha256"] in page  # the hash stays, smaller
    short = record["variant_sha256"][:8]
    board_page = client.get(f"/tracks/{TRACK}").text
    assert (
        NAME in board_page
        and f'<code class="n" title="sha256 of the code">{short}</code>' in board_page
    )
    assert NAME in client.get(f"/runs/{run['run_id']}").text
    sub_page = client.get(f"/submissions/{named['id']}").text
    assert f'<span class="sub-name">{NAME}</span>' in sub_page


def test_only_the_attempts_submitter_renames_it(client, db, runner_key, token):
    code = "print('shared')\n"
    # an unsolicited upload names the attempt by its file; the first submission claims it
    assert (
        client.post("/api/v1/runs", content=make_bundle(runner_key, source=code)).status_code == 201
    )
    first = submit(client, token, code, TRACK, name="Alice's idea")
    attempt = f"/api/v1/attempts/{first['attempt_id']}"
    assert client.get(attempt).json()["name"] == "Alice's idea"
    with db.write() as s:
        bob = create_token(s, "bob")[1]
    other = submit(client, bob, code, TRACK, name="Bob's claim")
    assert other["attempt_id"] == first["attempt_id"] and other["name"] == "Bob's claim"
    assert client.get(attempt).json()["name"] == "Alice's idea"  # Bob's stays on his submission
    again = submit(client, token, code, TRACK, name="Alice's idea, renamed")
    assert client.get(attempt).json()["name"] == "Alice's idea, renamed"
    unnamed = submit(client, token, code, TRACK)  # no name given: the attempt's stays
    assert unnamed["name"] is None and client.get(attempt).json()["name"] == again["name"]


@pytest.mark.parametrize(
    ("name", "why"),
    [
        ("x" * 121, "name: Value error, name is 121 characters; at most 120"),
        ("y" * 5000, "name: String should have at most 480 characters"),
        ("two\nlines", "control character (U+000A)"),
        ("nul\u0000", "control character (U+0000)"),
        ("spoof\u202egnp.exe", "format character"),
        (12, "name: Input should be a valid string"),
    ],
)
def test_bad_names_are_refused_and_store_nothing(client, db, token, name, why):
    before = row_counts(db)
    answer = client.post(
        "/api/v1/submissions",
        json={"track": TRACK, "source": "print(1)\n", "name": name},
        headers=_auth(token),
    )
    body = assert_problem(answer, 422, "validation")
    assert why in body["detail"], body["detail"]
    assert row_counts(db) == before


def test_the_schema_documents_the_name(client):
    openapi = client.get("/api/v1/openapi.json").json()
    post = openapi["paths"]["/api/v1/submissions"]["post"]["requestBody"]["content"]
    assert (
        "120 characters" in post["application/json"]["schema"]["properties"]["name"]["description"]
    )
    schema = openapi["components"]["schemas"]
    for model in ("SubmissionPublic", "JobPublic", "RunPublic", "RecordPublic"):
        assert "name" in schema[model]["properties"], model
