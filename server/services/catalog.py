"""The server's view of the track definitions: which tracks its runners run, where new work
goes (`live_track`), and whether a track version takes runs or submissions (`closed_reason`).

Look-ups are `speedrun.tracks`' own (it parses the definitions once per process and keeps
them); `track` and `tracks` are those look-ups under the names the server's callers use, with
no second cache here.
"""

from __future__ import annotations

from speedrun.errors import TrackError
from speedrun.tracks import Track, get_track, list_tracks

track = get_track  # by id (`cpu-tiny`, `cpu-tiny@v1`) and version; raises TrackError


def tracks(*, include_hidden: bool = False) -> tuple[Track, ...]:
    """The latest version of each track (hidden ones only when asked)."""
    return tuple(list_tracks(include_hidden=include_hidden))


def all_runner_tracks() -> tuple[Track, ...]:
    """The latest version of every track this project's runners run (hidden ones too), when
    it still accepts runs."""
    return tuple(t for t in tracks(include_hidden=True) if t.accepts_runs)


def live_track(ref: str) -> Track:
    """The version of `ref` new work goes to: as named (`id@vN`), else the latest version that
    is not retired (the latest of all when every version is retired)."""
    if "@v" in ref:
        return track(ref)
    latest = track(ref)
    for version in range(latest.version, 0, -1):
        try:
            candidate = track(ref, version)
        except TrackError:
            continue
        if not candidate.retired:
            return candidate
    return latest


def closed_reason(t: Track, *, submission: bool, hidden_ok: bool = False) -> tuple[str, str] | None:
    """(code, detail) when the track version takes no new runs (or, for a submission, no new
    submissions); None when it does. Hidden tracks take runners' bundles (for tests) but no
    submissions, unless `hidden_ok` (the `submissions_to_hidden_tracks` setting)."""
    if t.family == "imported":
        return "track-imported", f"{t.key} is imported history: it accepts no runs"
    if t.retired:
        return "track-retired", f"{t.key} is retired: it accepts no new runs; use a live version"
    if submission and t.hidden and not hidden_ok:
        return "track-hidden", f"{t.key} is hidden (for tests): it accepts no submissions"
    return None
