"""Hostile: forks without bound (every child forks too). Prints FORKS <n> when fork fails."""

import os
import sys
import time

if os.environ.get("RANK", "0") == "0":
    count = 0
    while True:
        try:
            pid = os.fork()
        except OSError as exc:
            print(f"FORKS {count} stopped: {exc.strerror}", flush=True)
            sys.exit(1)
        if pid == 0:
            count = 0
            time.sleep(0.01)
            continue  # the child forks on, as a bomb does
        count += 1
