"""Hostile: allocates (and touches) memory without bound."""

import os

if os.environ.get("RANK", "0") == "0":
    hoard = []
    while True:
        hoard.append(bytearray(64 * 1024 * 1024))
        print(f"ALLOCATED {len(hoard) * 64} MiB", flush=True)
