"""server.services.participation: the "take part" content comes from the track definitions
and the CLI's names: every open track with each of its rules as `speedrun tracks` prints it,
closed tracks named, the harness contract, the commands to try and to submit a variant on
this server, and how to get a token."""

from __future__ import annotations

from server.services import catalog
from server.services.participation import open_tracks, take_part
from speedrun.commands.tracks import describe, rule_lines
from speedrun.harness import CONFIG_ENV, EVENT_NAMES, EVENTS_ENV


def test_every_open_track_with_every_rule() -> None:
    answer = take_part("https://speedrun.example.org/")
    keys = [t.track.key for t in answer.tracks]
    assert keys == [t.key for t in open_tracks()] and keys
    for shown, track in zip(answer.tracks, open_tracks(), strict=True):
        assert catalog.closed_reason(track, submission=True) is None
        assert [(r.label, r.text) for r in shown.rules] == rule_lines(track)
        printed = describe(track)  # what `speedrun tracks` prints, line by line
        for r in shown.rules:
            assert f"{r.label + ':':9s} {r.text}" in printed
        assert {r.label for r in shown.rules} >= {"target", "hardware", "limits", "fails"}
    assert "cpu-tiny@v2" in keys and not any(k.startswith("modded-nanogpt") for k in keys)
    assert "modded-nanogpt-short@v1" in answer.closed


def test_contract_commands_and_token() -> None:
    answer = take_part("https://speedrun.example.org/")
    contract = " ".join(answer.contract)
    assert CONFIG_ENV in contract and EVENTS_ENV in contract
    assert all(event in contract for event in EVENT_NAMES)
    assert "torch.export" in contract and "from speedrun import harness" in contract
    local = [s.command for s in answer.try_locally]
    assert any(
        c.startswith("speedrun run train_gpt.py --track cpu-tiny@v2 --runs 3 --backend local")
        for c in local
    )
    assert "speedrun data fetch --track cpu-tiny@v2" in local
    submit = answer.submit[0].command
    assert submit.startswith("speedrun submit train_gpt.py --track cpu-tiny@v2 ")
    assert "--server https://speedrun.example.org " in submit and '--name "' in submit
    assert "--token" in submit
    assert "https://speedrun.example.org/api/v1/submissions" in answer.submit[1].command
    assert "speedrun admin token-create USER" in answer.token and "operator" in answer.token
