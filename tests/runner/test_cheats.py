"""Cheats that tried to get a good official score without training, through the docker backend
on cpu-tiny with the deployment's held-out secret, as an official run is made. Each must end
with a failure status and its reason, or (where the cheat is made impossible rather than
detected) with a loss nowhere near the target; none may end `completed` below the target.

    class 1  look-ahead model past a few fixed probes      -> rule_violation (not causal)
    class 2  clock stopped at an early export event        -> rule_violation (file changed)
             export event before the file exists           -> rule_violation (no file)
             training after `done`                         -> completed, the training timed
    class 3  reading training data / dev tail in warmup    -> failed (permission denied)
             training in warmup on self-made public data   -> completed, loss far above target
             training inside a validation pause            -> rule_violation (pause share)
    class 4  rebuilding the scored slice from public seeds -> completed, loss far above target
    class 5  a model.pt2 whose JSON runs code on loading   -> rule_violation (refused unread)
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from runner_helpers import VARIANTS, bundles, cli, load

from speedrun.data.fetch import fetch_track_data
from speedrun.data.heldout import init_secret, load_secret
from speedrun.tracks import get_track

pytestmark = [pytest.mark.slow, pytest.mark.container]
TRACK = get_track("cpu-tiny")
CHEATS = VARIANTS / "cheats"


@pytest.fixture(scope="module")
def secret(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("held-out") / "deployment.secret"
    init_secret(path)
    return path


@pytest.fixture(scope="module")
def secret_data(tmp_path_factory: pytest.TempPathFactory, secret: Path) -> Path:
    """cpu-tiny built from the secret once for the module (~30 s on 2 cores)."""
    data_dir = tmp_path_factory.mktemp("cheat-data")
    fetch_track_data(TRACK, data_dir, progress=False, secret=load_secret(secret))
    return data_dir


def cheat(name: str, dest: Path, **fills: object) -> Path:
    """The cheat's file with common.py's body in place of its `from common import *` line."""
    common = (CHEATS / "common.py").read_text()
    lines = []
    for line in (CHEATS / f"{name}.py").read_text().splitlines():
        if line.startswith("from common import *"):
            line = common
        elif "  # FILL" in line and line.split(" = ")[0] in fills:
            key = line.split(" = ")[0]
            line = f"{key} = {fills.pop(key)!r}"
        lines.append(line)
    assert not fills
    path = dest / "train_gpt.py"
    path.write_text("\n".join(lines) + "\n")
    return path


def run_cheat(
    variant: Path,
    out: Path,
    *,
    secret: Path,
    data: Path,
    key: Path,
    image: str,
) -> tuple[dict[str, Any], str]:
    """One docker-backend attempt on cpu-tiny: (manifest, the training log)."""
    code, _, err = cli(
        "run",
        str(variant),
        "--track",
        TRACK.id,
        "--backend",
        "docker",
        "--image",
        image,
        "--out",
        str(out),
        "--key",
        str(key),
        "--data-dir",
        str(data),
        "--held-out",
        str(secret),
        "--time-limit",
        "400",
        "--quiet",
    )
    assert code in (0, 1), err  # 1: the attempt did not complete, which is the point
    (bundle,) = bundles(out)
    loaded = load(bundle)
    return loaded.manifest, loaded.text("log.txt")


CASES = {
    "lookahead": ("rule_violation", "causal"),
    "early_export": ("rule_violation", "changed (or vanished) after the export event"),
    "export_before_file": ("rule_violation", "no model file when the export event arrived"),
    "done_early": ("completed", None),
    "warmup_reads_train": ("failed", "Permission denied"),
    "warmup_reads_dev": ("failed", "Permission denied"),
    "pause_trains": ("rule_violation", "validation pauses"),
    "warmup_makes_data": ("completed", None),
    "rebuilds_val": ("completed", None),
    "crafted_archive": ("rule_violation", "evaluation refused the model"),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_a_cheat_never_ends_completed_below_the_target(
    case: str,
    tmp_path: Path,
    secret: Path,
    secret_data: Path,
    runner_key: Path,
    image: str,
) -> None:
    name, fills = case, dict[str, object]()
    if case.startswith("warmup_reads_"):
        name, fills = "warmup_reads_data", {"CHOICE": case.rsplit("_", 1)[1]}
    if case == "rebuilds_val":
        synth = TRACK.dataset.synth or {}
        fills = {"VAL_SEED": synth["val_seed"], "VAL_SHARD_TOKENS": synth["val_shard_tokens"]}
        fills["VAL_TOKENS"] = TRACK.dataset.val_tokens
    variant = cheat(name, tmp_path, **fills)
    m, log = run_cheat(
        variant, tmp_path / "out", secret=secret, data=secret_data, key=runner_key, image=image
    )
    status, reason = CASES[case]
    assert m["exit"]["status"] == status, (m["exit"], m.get("violations"))
    if reason is not None:
        assert reason in (m["exit"]["reason"] or ""), m["exit"]
    held = m["fingerprint"]["data"]["held_out"]
    assert held["kind"] == "secret-language" and len(held["commitment"]) == 64
    loss = m["figures"]["val_loss"]
    if case == "done_early":
        # Not a breach: the training after `done` is simply on the clock (no allowance).
        assert m["figures"]["time_ms"] > 8000, m["figures"]
    elif status == "completed":
        # Impossible rather than detected: what it learned is of the public language.
        assert loss > TRACK.rules.target_val_loss + 1.0, loss
    else:
        assert m["figures"]["val_loss"] is None or m["violations"], m["figures"]
    if case == "crafted_archive":
        bundle = load(bundles(tmp_path / "out")[0])
        assert "PWNED" not in bundle.members.get("eval.log", b"").decode()
        assert "symbolic size" in m["exit"]["reason"]
    if case == "rebuilds_val":
        rebuilt = re.search(r"REBUILT-VAL ([0-9a-f]{64})", log)
        assert rebuilt is not None
        public_pin = TRACK.dataset.val_file.sha256
        assert rebuilt.group(1) == public_pin  # the public slice is rebuilt byte for byte...
        secret_val = m["fingerprint"]["data"]["files"][TRACK.dataset.val_file.name]
        assert secret_val != public_pin  # ...and is not what this deployment scores
