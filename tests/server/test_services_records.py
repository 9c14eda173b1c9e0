"""Records by the track's rule: enough official, independently evaluated runs of a server job
whose mean val loss is below the target at p < significance_alpha, beating the current record
by the margin rule (Welch, or paired A/B where runs carry `ab`). Every claim here goes through
a submission and its job (`support.claims`). Figures are checked against scipy."""

from __future__ import annotations

import math
import uuid

import numpy as np
import pytest
from scipy import stats as sps
from support.bundles import (
    H100,
    LOSS,
    LOSSES,
    RUNS,
    TARGET,
    TRACK,
    DeclaringClient,
    claim_runs,
    fitting_hardware,
    make_bundle,
)
from support.claims import claim, job_block, run_claim, submit, upload

from server.app import create_app
from server.config import load_settings

A = "from speedrun import harness\nprint('A')\n"
B = "from speedrun import harness\nprint('B, faster')\n"
C = "from speedrun import harness\nprint('C, no faster')\n"


def test_first_record_needs_the_runs_and_the_significance(client, runner_key, token):
    times = [1000.0, 1010.0, 1005.0][:RUNS]
    sub = submit(client, token, A, TRACK)
    lease = claim(client, runner_key)
    made = []
    for i, t in enumerate(times):
        bundle = make_bundle(
            runner_key, source=A, time_ms=t, val_loss=LOSSES[i], seed=i, job=job_block(lease)
        )
        answer = upload(client, runner_key, lease, bundle).json()
        assert answer["run"]["purpose"] == "claim" and answer["run"]["counts"] is True
        made += answer["records_established"]
        if i == 0:
            stats = client.get(f"/api/v1/attempts/{sub['attempt_id']}").json()["stats"]
            assert stats["reason"] == f"1 of {RUNS} required runs" and made == []
    [record_id] = made
    record = client.get(f"/api/v1/records/{record_id}").json()
    assert record["time_ms"]["mean"] == pytest.approx(np.mean(times))
    assert record["time_ms"]["std"] == pytest.approx(np.std(times, ddof=1))
    expected_p = sps.ttest_1samp(LOSSES, TARGET, alternative="less").pvalue
    assert record["p_value"] == pytest.approx(expected_p, rel=1e-9)
    assert record["status"] == "current" and record["beat"]["method"] == "first"
    assert record["evidence"]["runners"] == ["ci-runner"]
    assert record["evidence"]["val_loss_source"] == "independently-evaluated"
    assert record["cost"]["accelerator_count"] == 2 and len(record["runs"]) == RUNS


def test_loss_not_significant_makes_no_record(client, runner_key, token):
    losses = [LOSS, TARGET - 0.1, TARGET - 0.05][:RUNS]  # p ~ 0.14
    done = claim_runs(client, runner_key, token, A, [1000.0] * RUNS, losses)
    assert done.records == [] and done.job["state"] == "FINISHED"
    stats = client.get(f"/api/v1/attempts/{done.attempt_id}").json()["stats"]
    assert stats["p_value"] == pytest.approx(
        sps.ttest_1samp(losses, TARGET, alternative="less").pvalue
    )
    assert "not below" in stats["reason"]


def _record_a(client, key, token):
    [record] = claim_runs(client, key, token, A, [1000.0, 1002.0, 1001.0][:RUNS]).records
    return record


def test_faster_attempt_supersedes_and_history_stays(client, runner_key, token):
    a = _record_a(client, runner_key, token)
    faster = [800.0, 801.0, 802.0][:RUNS]
    [b] = claim_runs(client, runner_key, token, B, faster).records
    record_b = client.get(f"/api/v1/records/{b}").json()
    expected = sps.ttest_ind(
        faster, [1000.0, 1002.0, 1001.0][:RUNS], equal_var=False, alternative="less"
    ).pvalue
    assert record_b["beat"]["method"] == "welch"
    assert record_b["beat"]["p_value"] == pytest.approx(expected)
    assert record_b["previous_record_id"] == a
    board = client.get(f"/api/v1/tracks/{TRACK}/leaderboard").json()
    assert [(e["record_id"], e["rank"], e["status"]) for e in board["entries"]] == [
        (b, 1, "current"),
        (a, 2, "superseded"),
    ]
    assert board["total"] == 2


def test_not_faster_attempt_makes_no_record(client, runner_key, token):
    _record_a(client, runner_key, token)
    done = claim_runs(client, runner_key, token, C, [999.0, 1003.0, 1001.0][:RUNS])
    assert done.records == []
    assert client.get(f"/api/v1/tracks/{TRACK}/leaderboard").json()["total"] == 1


def test_unofficial_backend_never_makes_a_record(client, runner_key, token):
    done = claim_runs(
        client, runner_key, token, A, [1000.0, 1001.0, 1002.0][:RUNS], backend="local"
    )
    last = done.answers[-1]
    assert done.records == [] and last["run"]["official"] is False
    assert any("does not count toward records" in w for w in last["warnings"])
    stats = client.get(f"/api/v1/attempts/{done.attempt_id}").json()["stats"]
    assert stats["official"] is False and stats["n_counted"] == RUNS


def test_self_reported_losses_never_make_a_record(client, runner_key, token):
    legacy = "print('legacy script')\n"
    done = claim_runs(
        client, runner_key, token, legacy, [1000.0, 1001.0, 1002.0][:RUNS], harness=False
    )
    assert done.records == []
    stats = client.get(f"/api/v1/attempts/{done.attempt_id}").json()["stats"]
    assert stats["self_reported"] is True and stats["qualifies"] is False


def test_extra_record_backends_setting_counts_local_runs(db_url, runner_key, token):
    """runner_key and token are stored in this database by their fixtures."""
    from fastapi.testclient import TestClient

    app = create_app(load_settings(db=db_url, extra_record_backends=["local"]))
    with TestClient(app) as client:
        times = [1000.0, 1001.0, 1002.0][:RUNS]
        done = claim_runs(client, runner_key, token, A, times, backend="local")
        assert len(done.records) == 1
    app.state.speedrun.db.dispose()


EIGHT = {"gpus": [H100] * 8}
BIG = {"track": "gpt2-124m-8xh100", "hardware": EIGHT}


def _ab(session, role, index, baseline_source=A, candidate_source=B):
    import hashlib

    sha = lambda s: hashlib.sha256(s.encode()).hexdigest()  # noqa: E731
    return {
        "session_id": session,
        "role": role,
        "pair_index": index,
        "baseline_sha256": sha(baseline_source),
        "candidate_sha256": sha(candidate_source),
    }


def test_paired_track_claims_run_as_ab_jobs_against_the_record(client, runner_key, token):
    """On a track that demands paired runs, a submission made while a record stands becomes
    an A/B job: its claim answer carries the record's variant, its runs are pairs (the
    record's side first) signed with the job's id and nonce, and the pairs decide."""
    losses = [3.20, 3.21, 3.20, 3.21]
    [a] = claim_runs(
        client, runner_key, token, A, [60_000.0, 60_100.0, 59_900.0, 60_050.0], losses, **BIG
    ).records
    base_ms = [60_000.0, 60_300.0, 59_800.0, 60_100.0]
    cand_ms = [57_000.0, 57_100.0, 56_900.0, 57_050.0]
    session = uuid.uuid4().hex

    def pair_side(job, i):
        pair, role = divmod(i, 2)
        source, t = (A, base_ms[pair]) if role == 0 else (B, cand_ms[pair])
        ab = _ab(session, ("baseline", "candidate")[role], pair)
        return make_bundle(
            runner_key, source=source, time_ms=t, val_loss=3.2, job=job, ab=ab, **BIG
        )

    agent = DeclaringClient(client, runner_key, fitting_hardware(BIG["track"]))
    done = run_claim(agent, runner_key, token, B, BIG["track"], pair_side)
    assert done.lease["baseline_source"] == A and done.lease["job"]["runs_total"] == 8
    assert done.lease["job"]["baseline_sha256"] == _ab(session, "x", 0)["baseline_sha256"]
    [b] = [r for answer in done.answers for r in answer["records_established"]]
    purposes = [answer["run"]["purpose"] for answer in done.answers]
    assert purposes == ["ab-baseline", "claim"] * 4
    assert done.answers[-1]["records_established"] == [b]  # with the 4th run: the claim's rule
    record = client.get(f"/api/v1/records/{b}").json()
    logs = [math.log(x / y) for x, y in zip(base_ms, cand_ms, strict=True)]
    assert record["beat"]["method"] == "paired" and record["previous_record_id"] == a
    assert record["beat"]["speedup"] == pytest.approx(math.exp(np.mean(logs)))
    assert record["beat"]["p_value"] == pytest.approx(
        sps.ttest_1samp(logs, 0.0, alternative="greater").pvalue
    )
    assert record["hardware"] == {"hardware_class": "8xH100-80GB", "accelerator_count": 8}
    # The record's side stays out of the record's own statistics.
    a_stats = client.get(f"/api/v1/attempts/{done.answers[0]['run']['attempt_id']}").json()
    assert a_stats["stats"]["n_counted"] == 4


def test_an_ab_job_takes_only_pairs_of_its_two_variants(client, runner_key, token):
    claim_runs(client, runner_key, token, A, [60_000.0, 60_100.0, 59_900.0, 60_050.0], **BIG)
    agent = DeclaringClient(client, runner_key, fitting_hardware(BIG["track"]))
    sub = submit(agent, token, B, BIG["track"])
    lease = claim(agent, runner_key)
    plain = make_bundle(runner_key, source=B, time_ms=50_000.0, job=job_block(lease), **BIG)
    swapped = make_bundle(
        runner_key, source=A, time_ms=50_000.0, job=job_block(lease), **BIG,
        ab=_ab("s", "candidate", 0),
    )  # fmt: skip
    for bundle in (plain, swapped):
        answer = upload(agent, runner_key, lease, bundle)
        assert answer.status_code == 400 and answer.json()["code"] == "job-mismatch", answer.text
    job = client.get(f"/api/v1/jobs/{sub['job']['id']}").json()
    assert job["runs_done"] == []


def test_unsolicited_ab_pairs_never_beat_a_record(client, runner_key, token):
    [a] = claim_runs(
        client, runner_key, token, A, [60_000.0, 60_100.0, 59_900.0, 60_050.0], **BIG
    ).records
    session = uuid.uuid4().hex
    for i in range(4):
        for source, role, t in ((B, "candidate", 50_000.0 + i), (A, "baseline", 60_000.0 + i)):
            bundle = make_bundle(
                runner_key, source=source, time_ms=t, val_loss=3.2, ab=_ab(session, role, i), **BIG
            )
            answer = client.post("/api/v1/runs", content=bundle)
            assert answer.status_code == 201, answer.text
            assert answer.json()["records_established"] == []
    board = client.get("/api/v1/tracks/gpt2-124m-8xh100/leaderboard").json()
    assert [e["record_id"] for e in board["entries"]] == [a]
