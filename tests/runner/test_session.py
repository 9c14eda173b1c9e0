"""Paired A/B sessions: interleaved baseline and candidate runs, the `ab` block, the speedup."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from runner_helpers import VARIANTS, bundles, cli, load, summary

pytestmark = pytest.mark.slow


def test_ab_interleaves_and_reports_a_paired_speedup(
    tmp_path: Path, smoke_data_dir: Path, runner_key: Path
) -> None:
    variant = VARIANTS / "legacy_bigram.py"  # cheap: no torch in the workers
    candidate = tmp_path / "candidate.py"
    candidate.write_bytes(variant.read_bytes() + b"\n# an identical candidate\n")
    code, stdout, err = cli(
        "run",
        str(candidate),
        "--baseline",
        str(variant),
        "--runs",
        "2",
        "--track",
        "cpu-smoke",
        "--backend",
        "local",
        "--out",
        str(tmp_path / "out"),
        "--key",
        str(runner_key),
        "--data-dir",
        str(smoke_data_dir),
        "--seed",
        "7",
        "--quiet",
    )
    assert code == 0, err
    manifests = sorted(
        (load(p).manifest for p in bundles(tmp_path / "out")), key=lambda m: m["started_at"]
    )
    assert [m["ab"]["role"] for m in manifests] == ["baseline", "candidate"] * 2
    assert [m["ab"]["pair_index"] for m in manifests] == [0, 0, 1, 1]
    assert [m["seed"] for m in manifests] == [7, 7, 8, 8]  # a pair shares its seed
    assert len({m["ab"]["session_id"] for m in manifests}) == 1
    shas = {
        "baseline_sha256": hashlib.sha256(variant.read_bytes()).hexdigest(),
        "candidate_sha256": hashlib.sha256(candidate.read_bytes()).hexdigest(),
    }
    for m in manifests:
        assert {k: m["ab"][k] for k in shas} == shas
        assert m["variant"]["sha256"] == shas[f"{m['ab']['role']}_sha256"]
    s = summary(tmp_path / "out")
    assert s["kind"] == "ab" and s["pairs_completed"] == 2
    sp = s["speedup"]
    assert sp["pairs"] == 2 and sp["ci_low"] <= sp["speedup"] <= sp["ci_high"]
    assert s["verdict"].split(":")[0] in {
        "no significant difference",
        "candidate faster",
        "candidate slower",
    }
    assert "verdict:" in stdout
