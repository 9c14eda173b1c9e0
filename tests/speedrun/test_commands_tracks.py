"""speedrun.commands.tracks: `speedrun tracks [--json] [--all]` lists the tracks with their
rules, in words or as JSON; hidden tracks only when asked (and always in JSON)."""

from __future__ import annotations

import argparse
import json

import pytest

from speedrun.commands import tracks as command
from speedrun.tracks import get_track, list_tracks


def parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    command.register(parser.add_subparsers(dest="command"))
    return parser.parse_args(["tracks", *argv])


def test_the_description_states_the_rules_of_a_track() -> None:
    track = get_track("cpu-tiny")
    text = command.describe(track)
    first, *rest = text.splitlines()
    assert first.startswith(track.key) and "[hidden]" not in first
    assert f"mean val loss < {track.rules.target_val_loss}" in text
    assert f"{track.limits.wall_clock_s} s wall clock" in text
    assert "derive from the runners' secret" in text  # a secret-language track
    assert len(rest) == 8 and all(line.startswith("  ") for line in rest)


def test_hidden_imported_and_private_slice_tracks_say_so() -> None:
    assert "[hidden]" in command.describe(get_track("cpu-smoke")).splitlines()[0]
    imported = command.describe(get_track("modded-nanogpt-short"))
    assert "[imported history: accepts no runs]" in imported
    assert "none (the scored slice is public data)" in imported
    assert "runners hold a private slice" in command.describe(get_track("gpt2-124m-8xh100"))


def test_the_listing_hides_hidden_tracks_unless_asked(capsys: pytest.CaptureFixture[str]) -> None:
    assert command.run(parse()) == 0
    shown = capsys.readouterr().out
    public = list_tracks()
    assert all(t.key in shown for t in public)
    assert "cpu-smoke@" not in shown
    assert command.run(parse("--all")) == 0
    assert "cpu-smoke@" in capsys.readouterr().out


def test_json_is_one_document_with_every_track(capsys: pytest.CaptureFixture[str]) -> None:
    assert command.run(parse("--json")) == 0
    doc = json.loads(capsys.readouterr().out)
    assert [t["id"] for t in doc] == [t.id for t in list_tracks(include_hidden=True)]
    expected = [t.to_dict() for t in list_tracks(include_hidden=True)]
    assert doc == json.loads(json.dumps(expected))  # every field, tuples as lists


def test_an_unknown_option_is_a_usage_error() -> None:
    with pytest.raises(SystemExit) as exc:
        parse("--yaml")
    assert exc.value.code == 2
