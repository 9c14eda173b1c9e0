"""Hostile harness variant: during "training" it looks for the validation shard (by name, and
by content: the scored slice's first tokens) to train on it. Reports what it found, then
fails trying to open the validation shard where the data lives."""

import os

import numpy as np

from speedrun import harness

VAL_NAME = ""  # FILL: the validation shard's file name
SLICE_HEAD = []  # FILL: the first 32 tokens of the scored slice


def main():
    cfg = harness.load_config()
    h = harness.Harness(rank=int(os.environ.get("RANK", "0")), world_size=1)
    h.hello()
    h.warmup_end()
    found = []
    for folder, dirs, files in os.walk("/"):
        if folder.startswith(("/proc", "/sys", "/dev", "/usr")):
            dirs[:] = []
            continue
        for name in files:
            path = os.path.join(folder, name)
            if name == VAL_NAME:
                found.append(f"by name: {path}")
            if name.endswith(".bin"):
                tokens = np.fromfile(path, dtype="<u2", offset=1024)
                head = np.asarray(SLICE_HEAD, dtype=np.uint16)
                windows = np.lib.stride_tricks.sliding_window_view(tokens, len(head))
                if len(tokens) >= len(head) and (windows == head).all(axis=1).any():
                    found.append(f"by content: {path}")
    print("VAL-SEARCH " + ("; ".join(found) or "nothing found"), flush=True)
    data_dir = os.path.dirname(cfg.train_files[0])
    with open(os.path.join(data_dir, VAL_NAME), "rb") as f:  # not there: this fails
        f.read()


if __name__ == "__main__":
    main()
