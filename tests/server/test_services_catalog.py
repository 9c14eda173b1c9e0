"""server.services.catalog: the server's view of the track definitions. New work goes to the
live version of a track (as named, else the latest not retired); imported history takes no
runs, retired versions none either, hidden tracks take runners' bundles but submissions only
when the deployment allows."""

from __future__ import annotations

from dataclasses import replace

import pytest

from server.services import catalog
from speedrun.errors import TrackError
from speedrun.tracks import get_track


def test_look_ups_are_the_definitions() -> None:
    assert catalog.track("cpu-tiny") == get_track("cpu-tiny")
    assert catalog.track("cpu-tiny", 1).version == 1
    with pytest.raises(TrackError):
        catalog.track("cpu-huge")
    public = {t.id for t in catalog.tracks()}
    assert "cpu-smoke" not in public and "cpu-smoke" in {
        t.id for t in catalog.tracks(include_hidden=True)
    }
    runnable = {t.id for t in catalog.all_runner_tracks()}
    assert "cpu-smoke" in runnable and "modded-nanogpt-short" not in runnable


def test_new_work_goes_to_the_live_version() -> None:
    assert catalog.live_track("cpu-tiny") == get_track("cpu-tiny")
    assert catalog.live_track("cpu-tiny@v1").version == 1  # named: as named


@pytest.mark.parametrize(
    ("track", "submission", "hidden_ok", "code"),
    [
        (get_track("modded-nanogpt-short"), False, False, "track-imported"),
        (replace(get_track("cpu-tiny"), retired=True), False, False, "track-retired"),
        (get_track("cpu-smoke"), True, False, "track-hidden"),
        (get_track("cpu-smoke"), False, False, None),  # bundles from runners: taken
        (get_track("cpu-smoke"), True, True, None),
        (get_track("cpu-tiny"), True, False, None),
    ],
)
def test_which_tracks_take_work(track, submission: bool, hidden_ok: bool, code: str | None) -> None:
    reason = catalog.closed_reason(track, submission=submission, hidden_ok=hidden_ok)
    assert (reason[0] if reason else None) == code
    if reason:
        assert track.key in reason[1]
