"""Hostile harness variant: fills its output directory (the only writable host folder) as
fast as it can, to fill the host's disk. The runner must stop it at the track's bound."""

import os

from speedrun import harness


def main():
    cfg = harness.load_config()
    if os.environ.get("RANK", "0") != "0":
        return
    h = harness.Harness(rank=0, world_size=1)
    h.warmup_end()
    chunk = os.urandom(1 << 20)
    n = 0
    while True:
        with open(os.path.join(cfg.output_dir, f"fill-{n // 256}.bin"), "ab") as f:
            f.write(chunk)
        n += 1


if __name__ == "__main__":
    main()
