"""Records by the track's rule: enough official, independently evaluated runs whose mean val
loss is below the target at p < significance_alpha, beating the current record by the margin
rule (Welch, or paired A/B where runs carry `ab`). Figures are checked against scipy."""

from __future__ import annotations

import math
import uuid

import numpy as np
import pytest
from scipy import stats as sps
from srv_bundles import H100, LOSS, LOSS2, TARGET, make_bundle

from server.app import create_app
from server.config import load_settings

A = "from speedrun import harness\nprint('A')\n"
B = "from speedrun import harness\nprint('B, faster')\n"
C = "from speedrun import harness\nprint('C, no faster')\n"


def post(client, key, **fields):
    r = client.post("/api/v1/runs", content=make_bundle(key, **fields))
    assert r.status_code == 201, r.text
    return r.json()


def test_first_record_needs_the_runs_and_the_significance(client, runner_key):
    first = post(client, runner_key, source=A, time_ms=1000.0, val_loss=LOSS)
    assert first["records_established"] == []
    attempt = client.get(f"/api/v1/attempts/{first['run']['attempt_id']}").json()
    assert attempt["stats"]["reason"] == "1 of 2 required runs"
    second = post(client, runner_key, source=A, time_ms=1010.0, val_loss=LOSS2)
    [record_id] = second["records_established"]
    record = client.get(f"/api/v1/records/{record_id}").json()
    times, losses = [1000.0, 1010.0], [LOSS, LOSS2]
    assert record["time_ms"]["mean"] == pytest.approx(np.mean(times))
    assert record["time_ms"]["std"] == pytest.approx(np.std(times, ddof=1))
    expected_p = sps.ttest_1samp(losses, TARGET, alternative="less").pvalue
    assert record["p_value"] == pytest.approx(expected_p, rel=1e-9)
    assert record["status"] == "current" and record["beat"]["method"] == "first"
    assert record["evidence"]["runners"] == ["ci-runner"]
    assert record["evidence"]["val_loss_source"] == "independently-evaluated"
    assert record["cost"]["accelerator_count"] == 2 and len(record["runs"]) == 2


def test_loss_not_significant_makes_no_record(client, runner_key):
    post(client, runner_key, source=A, time_ms=1000.0, val_loss=LOSS)
    last = post(client, runner_key, source=A, time_ms=1000.0, val_loss=TARGET - 0.1)  # p ~ 0.2
    assert last["records_established"] == []
    stats = client.get(f"/api/v1/attempts/{last['run']['attempt_id']}").json()["stats"]
    assert stats["p_value"] == pytest.approx(
        sps.ttest_1samp([LOSS, TARGET - 0.1], TARGET, alternative="less").pvalue
    )
    assert "not below" in stats["reason"]


def _record_a(client, key):
    post(client, key, source=A, time_ms=1000.0, val_loss=LOSS)
    return post(client, key, source=A, time_ms=1002.0, val_loss=LOSS2)["records_established"][0]


def test_faster_attempt_supersedes_and_history_stays(client, runner_key):
    a = _record_a(client, runner_key)
    post(client, runner_key, source=B, time_ms=800.0, val_loss=LOSS)
    [b] = post(client, runner_key, source=B, time_ms=801.0, val_loss=LOSS2)["records_established"]
    record_b = client.get(f"/api/v1/records/{b}").json()
    expected = sps.ttest_ind(
        [800.0, 801.0], [1000.0, 1002.0], equal_var=False, alternative="less"
    ).pvalue
    assert record_b["beat"]["method"] == "welch"
    assert record_b["beat"]["p_value"] == pytest.approx(expected)
    assert record_b["previous_record_id"] == a
    board = client.get("/api/v1/tracks/cpu-smoke/leaderboard").json()
    assert [(e["record_id"], e["rank"], e["status"]) for e in board["entries"]] == [
        (b, 1, "current"),
        (a, 2, "superseded"),
    ]
    assert board["total"] == 2


def test_not_faster_attempt_makes_no_record(client, runner_key):
    _record_a(client, runner_key)
    post(client, runner_key, source=C, time_ms=999.0, val_loss=LOSS)
    last = post(client, runner_key, source=C, time_ms=1003.0, val_loss=LOSS2)
    assert last["records_established"] == []
    assert client.get("/api/v1/tracks/cpu-smoke/leaderboard").json()["total"] == 1


def test_unofficial_backend_never_makes_a_record(client, runner_key):
    post(client, runner_key, source=A, backend="local", time_ms=1000.0, val_loss=LOSS)
    last = post(client, runner_key, source=A, backend="local", time_ms=1001.0, val_loss=LOSS2)
    assert last["records_established"] == [] and last["run"]["official"] is False
    assert any("does not count toward records" in w for w in last["warnings"])
    stats = client.get(f"/api/v1/attempts/{last['run']['attempt_id']}").json()["stats"]
    assert stats["official"] is False and stats["n_counted"] == 2


def test_self_reported_losses_never_make_a_record(client, runner_key):
    legacy = "print('legacy script')\n"
    post(client, runner_key, source=legacy, harness=False, time_ms=1000.0, val_loss=LOSS)
    last = post(client, runner_key, source=legacy, harness=False, time_ms=1001.0, val_loss=LOSS2)
    assert last["records_established"] == []
    stats = client.get(f"/api/v1/attempts/{last['run']['attempt_id']}").json()["stats"]
    assert stats["self_reported"] is True and stats["qualifies"] is False


def test_extra_record_backends_setting_counts_local_runs(db_url, runner_key):
    """runner_key is registered in this database by its fixture."""
    from fastapi.testclient import TestClient

    app = create_app(load_settings(db=db_url, extra_record_backends=["local"]))
    with TestClient(app) as client:
        post(client, runner_key, source=A, backend="local", time_ms=1000.0, val_loss=LOSS)
        last = post(client, runner_key, source=A, backend="local", time_ms=1001.0, val_loss=LOSS2)
        assert len(last["records_established"]) == 1
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


def test_paired_track_needs_ab_pairs_and_uses_them(client, runner_key):
    losses = [3.20, 3.21, 3.20, 3.21]
    for t, loss in zip([60_000.0, 60_100.0, 59_900.0, 60_050.0], losses, strict=True):
        last = post(client, runner_key, source=A, time_ms=t, val_loss=loss, **BIG)
    [a] = last["records_established"]
    # B is faster, but without A/B pairs this track does not let it beat the record.
    for t, loss in zip([50_000.0, 50_100.0, 49_900.0, 50_050.0], losses, strict=True):
        last = post(client, runner_key, source=B, time_ms=t, val_loss=loss, **BIG)
    assert last["records_established"] == []
    session = uuid.uuid4().hex
    base_ms, cand_ms = [60_000.0, 60_300.0, 59_800.0], [57_000.0, 57_100.0, 56_900.0]
    made = []
    for i, (b_ms, c_ms) in enumerate(zip(base_ms, cand_ms, strict=True)):
        made += post(
            client,
            runner_key,
            source=B,
            time_ms=c_ms,
            val_loss=3.2,
            ab=_ab(session, "candidate", i),
            **BIG,
        )["records_established"]
        made += post(
            client,
            runner_key,
            source=A,
            time_ms=b_ms,
            val_loss=3.2,
            ab=_ab(session, "baseline", i),
            **BIG,
        )["records_established"]
    [b] = made
    record = client.get(f"/api/v1/records/{b}").json()
    # decided as soon as two pairs were complete
    logs = [math.log(x / y) for x, y in zip(base_ms[:2], cand_ms[:2], strict=True)]
    assert record["beat"]["method"] == "paired" and record["previous_record_id"] == a
    assert record["beat"]["speedup"] == pytest.approx(math.exp(np.mean(logs)))
    assert record["beat"]["p_value"] == pytest.approx(
        sps.ttest_1samp(logs, 0.0, alternative="greater").pvalue
    )
    assert record["hardware"] == {"hardware_class": "8xH100-80GB", "accelerator_count": 8}
