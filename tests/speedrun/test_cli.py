"""The `speedrun` console script in real processes: tracks listing and synthetic data builds."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from speedrun.data.sums import SUMS_FILE
from speedrun.tracks import get_track


def speedrun_cmd() -> list[str]:
    script = Path(sys.executable).with_name("speedrun")  # the installed console script
    return [str(script)] if script.exists() else [sys.executable, "-m", "speedrun.cli"]


def run(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*speedrun_cmd(), *args], capture_output=True, text=True, timeout=timeout, check=False
    )


def fetch_twice_in_parallel(track_id: str, tmp_path: Path) -> tuple[Path, Path]:
    """Two independent `speedrun data fetch` processes into two directories."""
    dirs = (tmp_path / "a", tmp_path / "b")
    procs = [
        subprocess.Popen(
            [
                *speedrun_cmd(),
                "data",
                "fetch",
                "--track",
                track_id,
                "--data-dir",
                str(d),
                "--quiet",
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for d in dirs
    ]
    for proc in procs:
        out, err = proc.communicate(timeout=600)
        assert proc.returncode == 0, err
        assert "built" in out and "files ready in" in out
    return dirs


@pytest.mark.parametrize("track_id", ["cpu-smoke", "cpu-tiny"])
def test_data_fetch_builds_identical_pinned_shards_in_two_directories(tmp_path, track_id):
    dataset = get_track(track_id).dataset
    a, b = (d / dataset.name for d in fetch_twice_in_parallel(track_id, tmp_path))
    files = [dataset.val_file, *dataset.train_files]
    for f in files:
        assert (a / f.name).read_bytes() == (b / f.name).read_bytes(), f.name
    pinned = {f.name: f.sha256 for f in files}
    assert json.loads((a / SUMS_FILE).read_text()) == pinned
    assert json.loads((b / SUMS_FILE).read_text()) == pinned
    again = run("data", "fetch", "--track", track_id, "--data-dir", str(a.parent))
    assert again.returncode == 0, again.stderr
    assert again.stdout.count("verified") == len(files) and "built" not in again.stdout


def test_tracks_lists_public_tracks_and_hides_cpu_smoke():
    plain = run("tracks")
    assert plain.returncode == 0, plain.stderr
    assert "cpu-tiny@v2" in plain.stdout and "gpt2-124m-8xh100@v2" in plain.stdout
    assert "cpu-smoke" not in plain.stdout
    everything = run("tracks", "--all")
    assert "cpu-smoke@v2" in everything.stdout and "[hidden]" in everything.stdout


def test_tracks_json_is_one_json_document():
    done = run("tracks", "--json")
    assert done.returncode == 0, done.stderr
    ids = [t["id"] for t in json.loads(done.stdout)]
    assert "gpt2-124m-8xh100" in ids and "cpu-tiny" in ids


def test_tracks_json_into_a_closed_pipe_ends_quietly():
    """`speedrun tracks --json | head -c1`: the reader goes away before the write."""
    proc = subprocess.Popen(
        [*speedrun_cmd(), "tracks", "--json"], stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    assert proc.stdout is not None and proc.stderr is not None
    proc.stdout.close()  # no reader left when the command prints
    err = proc.stderr.read().decode()
    assert proc.wait(timeout=60) == 0
    assert "Traceback" not in err and "BrokenPipe" not in err, err


def test_unknown_track_exits_2_with_a_clear_message():
    done = run("data", "fetch", "--track", "gpt5-speedrun")
    assert done.returncode == 2
    assert "unknown track 'gpt5-speedrun'" in done.stderr and "Traceback" not in done.stderr


def test_negative_train_shards_is_a_usage_error(tmp_path):
    done = run("data", "fetch", "--track", "cpu-smoke", "--train-shards", "-1",
               "--data-dir", str(tmp_path))  # fmt: skip
    assert done.returncode == 2 and "--train-shards" in done.stderr
    assert not any(tmp_path.iterdir())


def test_version_and_help():
    assert run("--version").stdout.startswith("speedrun ")
    helped = run("data", "fetch", "--help")
    assert helped.returncode == 0
    for option in ("--track", "--data-dir", "--train-shards", "--quiet"):
        assert option in helped.stdout
