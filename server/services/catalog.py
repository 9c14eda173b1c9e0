"""Track definitions for the server, read once per process.

`speedrun.tracks.get_track` parses every TOML file on each call, which is right for a CLI
and far too slow for a hot endpoint; the definitions ship with the package and do not change
while a server runs, so lookups here are memoised (the first call does the reading).
"""

from __future__ import annotations

from functools import lru_cache

from speedrun.errors import TrackError
from speedrun.tracks import Track, get_track, list_tracks


@lru_cache(maxsize=512)
def track(ref: str, version: int | None = None) -> Track:
    """Like `speedrun.tracks.get_track` (raises TrackError for unknown ids or versions)."""
    return get_track(ref, version)


@lru_cache(maxsize=2)
def tracks(*, include_hidden: bool = False) -> tuple[Track, ...]:
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
