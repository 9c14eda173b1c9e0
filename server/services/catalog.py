"""Track definitions for the server, read once per process.

`speedrun.tracks.get_track` parses every TOML file on each call, which is right for a CLI
and far too slow for a hot endpoint; the definitions ship with the package and do not change
while a server runs, so lookups here are memoised (the first call does the reading).
"""

from __future__ import annotations

from functools import lru_cache

from speedrun.tracks import Track, get_track, list_tracks


@lru_cache(maxsize=512)
def track(ref: str, version: int | None = None) -> Track:
    """Like `speedrun.tracks.get_track` (raises TrackError for unknown ids or versions)."""
    return get_track(ref, version)


@lru_cache(maxsize=2)
def tracks(*, include_hidden: bool = False) -> tuple[Track, ...]:
    return tuple(list_tracks(include_hidden=include_hidden))


def all_runner_tracks() -> tuple[Track, ...]:
    """The latest version of every track this project's runners run (hidden ones too)."""
    return tuple(t for t in tracks(include_hidden=True) if t.family == "runner")
