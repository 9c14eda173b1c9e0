"""speedrun.commands.data: `speedrun data fetch` builds a synthetic track's shards (from the
public seeds, or from a held-out secret into a folder of its own), reports each file with its
sha256, checks them on a second fetch, and refuses bad arguments before writing anything."""

from __future__ import annotations

import argparse
import hashlib
from pathlib import Path

import pytest

from speedrun.commands import data as command
from speedrun.data.heldout import init_secret
from speedrun.data.sums import SUMS_FILE
from speedrun.errors import KeyFileError, TrackError, UsageError
from speedrun.tracks import get_track


def parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    command.register(parser.add_subparsers(dest="command"))
    return parser.parse_args(["data", "fetch", "--quiet", *argv])


def fetch(capsys: pytest.CaptureFixture[str], *argv: str) -> list[list[str]]:
    assert command.run_fetch(parse(*argv)) == 0
    return [line.split() for line in capsys.readouterr().out.splitlines()]


def test_fetch_builds_the_files_and_names_each_with_its_digest(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    track = get_track("cpu-smoke")
    *files, summary = fetch(capsys, "--track", "cpu-smoke", "--data-dir", str(tmp_path))
    folder = tmp_path / track.dataset.name
    assert summary == [str(len(files)), "files", "ready", "in", str(folder)]
    assert {Path(path).name for _, _, path in files} == {
        f.name for f in [track.dataset.val_file, *track.dataset.train_files]
    }
    for action, digest, path in files:
        assert action == "built"
        assert hashlib.sha256(Path(path).read_bytes()).hexdigest() == digest
    assert (folder / SUMS_FILE).is_file()

    again = fetch(capsys, "--track", "cpu-smoke", "--data-dir", str(tmp_path))
    assert [d for _, d, _ in again[:-1]] == [d for _, d, _ in files]
    assert all(action != "built" for action, _, _ in again[:-1])  # checked, not rebuilt


@pytest.mark.slow  # two builds, one with its private slice: several seconds
def test_a_held_out_secret_builds_another_language_in_its_own_folder(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    secret = init_secret(tmp_path / "held-out")
    lines = fetch(
        capsys, "--track", "cpu-smoke", "--data-dir", str(tmp_path), "--held-out", str(secret.path)
    )
    folder = tmp_path / f"{get_track('cpu-smoke').dataset.name}-{secret.short_id}"
    assert lines[-1][-1] == str(folder)
    public = fetch(capsys, "--track", "cpu-smoke", "--data-dir", str(tmp_path / "public"))
    assert {d for _, d, _ in lines[:-1]}.isdisjoint({d for _, d, _ in public[:-1]})


@pytest.mark.parametrize(
    ("argv", "error", "message"),
    [
        (["--track", "cpu-smoke", "--train-shards", "-1"], UsageError, "--train-shards"),
        (["--track", "cpu-huge"], TrackError, "cpu-huge"),
        (["--track", "cpu-smoke", "--held-out", "/nonexistent/secret"], KeyFileError, "secret"),
    ],
)
def test_bad_arguments_are_refused_before_anything_is_written(
    tmp_path: Path, argv: list[str], error: type[Exception], message: str
) -> None:
    with pytest.raises(error, match=message):
        command.run_fetch(parse(*argv, "--data-dir", str(tmp_path / "data")))
    assert not (tmp_path / "data").exists()
