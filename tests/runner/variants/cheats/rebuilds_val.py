"""Class 4, the scored slice rebuilt inside the sandbox: the public generator with the
track's public validation seed gives the public validation shard byte for byte (it prints
the slice's sha256); a count model fitted on the rebuilt slice memorises it."""

from common import *  # the test puts common.py's body in place of this line

from speedrun.data import shards, synth

# The track's public definition (speedrun/trackdefs), as anyone can read it:
VAL_SEED = 0  # FILL
VAL_SHARD_TOKENS = 0  # FILL
VAL_TOKENS = 0  # FILL


def main():
    cfg, h = start()
    h.warmup_end()
    t0 = time.perf_counter()
    val = synth.generate(synth.LanguageSpec(), VAL_SHARD_TOKENS, seed=VAL_SEED)
    scored = val.tokens[: VAL_TOKENS + 1]
    digest = shards.write_shard("/tmp/rebuilt_val.bin", val.tokens)
    print("REBUILT-VAL", digest, flush=True)
    trained = bigram_table(scored, 256)
    h.done(step=1, train_time_ms=1000 * (time.perf_counter() - t0), train_tokens=0)
    if is_rank0():
        h.export_model(trained, example(cfg), cfg.model_path)


main()
