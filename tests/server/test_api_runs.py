"""POST /api/v1/runs: verified bundles are stored once (as unsolicited runs: shown, never
counted), re-uploads are idempotent, the run records its runner, and GET /api/v1/runs/{id}
gives back the manifest and the step curve."""

from __future__ import annotations

from sqlalchemy import select
from srv_helpers import assert_problem, row_counts
from support.bundles import LOSS, make_bundle, manifest

from server.models import Blob, Run
from server.services.runners import revoke_runner


def test_accepts_a_signed_bundle_and_records_its_runner(client, db, runner_key):
    data = make_bundle(runner_key, time_ms=1234.0, val_loss=LOSS + 0.1)
    r = client.post("/api/v1/runs", content=data)
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["created"] is True
    run = body["run"]
    assert run["runner"] == "ci-runner"
    assert run["time_ms"] == 1234.0 and run["val_loss"] == LOSS + 0.1
    assert run["official"] is True and run["status"] == "completed"
    assert run["purpose"] == "unsolicited" and run["unsolicited"] is True
    assert run["counts"] is False and any(w.startswith("unsolicited") for w in body["warnings"])
    run = client.get(run["url"]).json()
    assert run["curve"]["val"][-1] == {
        "step": 4,
        "val_loss": LOSS + 0.1,
        "train_loss": None,
        "train_time_ms": 1234.0,
    }
    assert len(run["curve"]["train"]) == 4
    got = client.get(f"/api/v1/runs/{body['run_id']}")
    assert got.status_code == 200 and got.json()["manifest"]["run_id"] == body["run_id"]
    bundle = client.get(f"/api/v1/runs/{body['run_id']}/bundle")
    assert bundle.content == data


def test_reupload_is_idempotent(client, db, runner_key):
    data = make_bundle(runner_key)
    first = client.post("/api/v1/runs", content=data)
    before = row_counts(db)
    again = client.post("/api/v1/runs", content=data)
    assert again.status_code == 200 and again.json()["created"] is False
    assert again.json()["run_id"] == first.json()["run_id"]
    assert row_counts(db) == before


def test_blobs_are_stored_once_by_sha256(client, db, runner_key):
    for seed in range(3):
        assert (
            client.post("/api/v1/runs", content=make_bundle(runner_key, seed=seed)).status_code
            == 201
        )
    with db.reader() as s:
        kinds = sorted(s.scalars(select(Blob.media_type)))
        assert kinds.count("text/x-python") == 1  # the variant, shared by all three runs
        assert kinds.count("application/gzip") == 3
        assert len(set(s.scalars(select(Run.attempt_id)))) == 1


def test_same_run_id_in_another_bundle_is_a_conflict(client, db, runner_key):
    m = manifest(run_id="a" * 32)
    assert client.post("/api/v1/runs", content=make_bundle(runner_key, m)).status_code == 201
    other = manifest(run_id="a" * 32, seed=7)
    before = row_counts(db)
    assert_problem(
        client.post("/api/v1/runs", content=make_bundle(runner_key, other)), 409, "run-id-conflict"
    )
    assert row_counts(db) == before


def test_revoked_runner_is_refused(client, db, runner_key):
    with db.write() as s:
        revoke_runner(s, "ci-runner")
    before = row_counts(db)
    assert_problem(client.post("/api/v1/runs", content=make_bundle(runner_key)), 422, "unknown-key")
    assert row_counts(db) == before


def test_failed_runs_are_kept_but_not_counted(client, runner_key):
    client.post("/api/v1/runs", content=make_bundle(runner_key, time_ms=1000.0, val_loss=LOSS))
    r = client.post(
        "/api/v1/runs",
        content=make_bundle(runner_key, status="failed", time_ms=None, val_loss=None),
    )
    assert r.status_code == 201, r.text
    attempt = client.get(f"/api/v1/attempts/{r.json()['run']['attempt_id']}").json()
    assert len(attempt["runs"]) == 2  # both kept and shown
    stats = attempt["stats"]
    assert (stats["n_runs"], stats["n_counted"], stats["n_unsolicited"]) == (0, 0, 2)
    assert stats["reason"].startswith("no run of a server job")
