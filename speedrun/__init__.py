"""Shared, torch-free core of the speedrun service: tracks, data shards, bundles, signatures,
log parsing, statistics and the harness contract. Both `runner` and `server` import from here;
nothing in this package imports torch at module level."""

__version__ = "0.1.0"
