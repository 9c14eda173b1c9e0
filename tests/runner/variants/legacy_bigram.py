"""A legacy variant for the runner's tests: no harness, the modded-nanogpt way of doing things.

It reads `data/<dataset>/*.bin` relative to its working directory, "trains" a smoothed bigram
model with numpy (rank 0 only; torchrun starts two ranks), reports the loss on the first
16,384 tokens of the validation shard in modded-nanogpt step lines, and writes its own log to
logs/<id>.txt as the speedrun's scripts do.
"""

import glob
import os
import time
import uuid

import numpy as np

HEADER_BYTES = 1024


def read(path):
    return np.fromfile(path, dtype="<u2", offset=HEADER_BYTES).astype(np.int64)


def main():
    if int(os.environ.get("RANK", "0")) != 0:
        return
    os.makedirs("logs", exist_ok=True)
    log = open(f"logs/{uuid.uuid4()}.txt", "w")  # noqa: SIM115 (as the speedrun does)

    def print0(s):
        print(s, flush=True)
        log.write(s + "\n")

    train = read(sorted(glob.glob("data/*/synthlang_train_*.bin"))[0])
    val = read(sorted(glob.glob("data/*/synthlang_val_*.bin"))[0])[: 16384 + 1]
    t0 = time.perf_counter()
    counts = np.ones((256, 256))
    steps = 4
    for step in range(steps + 1):
        if step:
            part = train[(step - 1) * 60000 : step * 60000 + 1]
            np.add.at(counts, (part[:-1], part[1:]), 1)
        probs = counts / counts.sum(axis=1, keepdims=True)
        loss = float(-np.log(probs[val[:-1], val[1:]]).mean())
        ms = 1000 * (time.perf_counter() - t0)
        print0(
            f"step:{step}/{steps} val_loss:{loss:.4f} train_time:{ms:.0f}ms step_avg:{ms / max(step, 1):.2f}ms"
        )
    print0("peak memory consumption: 1 MiB")
    log.close()


if __name__ == "__main__":
    main()
