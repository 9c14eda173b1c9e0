"""Track definitions as TOML data files, one per (track, version)."""
