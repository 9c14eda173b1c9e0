"""The soak benchmark (benchmarks/soak.py) in short: 40 clients for 20 s against a real server
on a real PostgreSQL. No answer is a 5xx, no hostile request is accepted or leaves a row,
every acknowledged upload is stored, and every kind of request was sent and answered.
A second test feeds the proof a stray row, so a passing soak is not a proof that cannot fail.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest
from support.postgres import pg_bin

REPO = Path(__file__).resolve().parents[2]
SOAK = REPO / "benchmarks" / "soak.py"
READS = {
    "read:page-index",
    "read:page-track",
    "read:page-run",
    "read:page-record",
    "read:page-submission",
    "read:api-leaderboard",
    "read:api-run",
    "read:api-attempt",
    "read:api-health",
}
HOSTILE = {
    "hostile:sparse-tar-bomb",
    "hostile:gzip-bomb",
    "hostile:10gb-header",
    "hostile:bad-items-unsigned",
    "hostile:bad-items-self-signed",
    "hostile:unsigned",
    "hostile:unknown-key",
    "hostile:bad-signature",
    "hostile:truncated",
    "hostile:not-gzip",
    "hostile:oversized-declared",
    "hostile:oversized-streamed",
    "hostile:submission-bad-token",
    "hostile:submission-no-token",
}


@pytest.mark.slow
@pytest.mark.postgres
@pytest.mark.timeout(180)
def test_short_soak_no_5xx_nothing_hostile_stored(tmp_path: Path) -> None:
    if pg_bin() is None:
        pytest.skip("PostgreSQL is not installed (run scripts/system-deps.sh)")
    if shutil.which("tar") is None:
        pytest.skip("GNU tar makes the sparse tar bomb")
    out = tmp_path / "soak.json"
    command = [sys.executable, str(SOAK), "--clients", "40", "--duration", "20", "--out", str(out)]
    command += ["--hostile-think", "1"]  # 4 attackers: each kind several times in 20 s
    done = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=170)
    assert out.exists(), done.stdout[-3000:] + done.stderr[-3000:]
    result = json.loads(out.read_text())
    assert done.returncode == 0, result["failures"]

    kinds = result["kinds"]
    assert set(kinds) == READS | HOSTILE | {"upload:valid"}
    for kind, fig in kinds.items():
        answered = sum(n for status, n in fig["statuses"].items() if int(status) > 0)
        assert answered > 0, f"{kind} was never answered: {fig['statuses']}"
        assert fig["5xx"] == 0, (kind, fig["statuses"])
    for kind in READS:
        assert set(kinds[kind]["statuses"]) == {"200"}, (kind, kinds[kind]["statuses"])
    for kind in HOSTILE:
        statuses = {int(s) for s in kinds[kind]["statuses"]}
        assert statuses <= {400, 401, 413, 422, 429}, (kind, kinds[kind]["statuses"])
    assert result["groups"]["all"]["no_answer"] == 0

    proof = result["proof"]
    uploads = kinds["upload:valid"]["statuses"].get("201", 0)
    assert uploads > 0 and result["valid_uploads"] == uploads
    runs = proof["tables"]["runs"]
    assert runs["after"] - runs["before"] == uploads
    assert proof["ok"], proof
    assert result["server_errors"]["tracebacks"] == 0, result["server_log_tail"]


def test_the_proof_names_what_no_valid_upload_explains(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.syspath_prepend(str(SOAK.parent))
    import soak

    def state(counts: list[int], runs: set[str], blobs: set[str]) -> soak.Snapshot:
        """Tables runs, blobs, attempts, users, run_log_summaries (one row per run)."""
        names = ("runs", "blobs", "attempts", "users", "run_log_summaries")
        attempts = {"v0"} | ({"v1"} if "b1" in blobs else set())
        per_run = {"run_log_summaries": Counter(runs)}
        return soak.Snapshot(dict(zip(names, counts, strict=True)), runs, blobs, attempts, per_run)

    before = state([1, 1, 1, 1, 1], {"seed"}, {"b0"})
    uploaded = {"mine": ("b1", "v1")}
    clean = state([2, 3, 2, 1, 2], {"seed", "mine"}, {"b0", "b1", "v1"})
    assert soak.prove(before, clean, uploaded, {"seed"})["ok"]

    hostile = state([3, 4, 2, 2, 3], {"seed", "mine", "evil"}, {"b0", "b1", "v1", "bad"})
    proof = soak.prove(before, hostile, uploaded, {"seed"})
    assert not proof["ok"]
    assert proof["stray_runs"] == ["evil"] and proof["stray_blobs"] == ["bad"]
    assert proof["stray_rows_by_run"] == {"run_log_summaries": ["evil"]}
    grown = {"runs", "blobs", "users", "run_log_summaries"}
    assert set(proof["tables_grown_unexplained"]) == grown

    lost = state([1, 1, 1, 1, 1], {"seed"}, {"b0"})
    assert soak.prove(before, lost, uploaded, {"seed"})["missing_runs"] == ["mine"]
