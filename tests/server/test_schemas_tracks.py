"""server.schemas.tracks: a track as the API shows it: its rules, hardware, limit and where
its leaderboard and page are; the listing's count is its length."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from server.schemas.tracks import TrackPublic, TracksPublic
from speedrun.tracks import get_track


def test_the_track_listing_parses_and_matches_the_definitions(client) -> None:
    tracks = TracksPublic.model_validate(client.get("/api/v1/tracks").json())
    assert tracks.count == len(tracks.data) > 0
    tiny = next(t for t in tracks.data if t.id == "cpu-tiny")
    track = get_track("cpu-tiny")
    assert tiny.key == track.key and tiny.version == track.version
    assert tiny.rules.target_val_loss == track.rules.target_val_loss
    assert tiny.hardware.accelerator == "cpu" and tiny.hardware.count == track.hardware.count
    assert tiny.leaderboard_url == f"/api/v1/tracks/cpu-tiny/leaderboard?version={track.version}"
    assert client.get(tiny.leaderboard_url).status_code == 200  # the link works
    assert tiny.family == "runner" and tiny.ranked_by == "time"


def test_a_track_needs_its_rules_and_hardware() -> None:
    with pytest.raises(ValidationError):
        TrackPublic.model_validate({"id": "x", "version": 1, "key": "x@v1"})
