"""Hostile harness variant: writes 300 MB to stdout without a newline, then exits: the
engine's log of the container and the runner's own copy must both stay bounded."""

import os
import sys

if os.environ.get("RANK", "0") == "0":
    block = "x" * (1 << 20)
    for _ in range(300):
        sys.stdout.write(block)
    sys.stdout.flush()
    print("\nFLOOD-DONE", flush=True)
