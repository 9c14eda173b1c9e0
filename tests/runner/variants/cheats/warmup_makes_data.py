"""Class 3, training inside the untimed warmup on data it makes up itself: the public
synthlang generator (it ships with the harness) and its public seeds give in-distribution
tokens of the public language; the model is fitted before warmup_end."""

from common import *  # the test puts common.py's body in place of this line

from speedrun.data import synth


def main():
    cfg, h = start()
    made = synth.generate(synth.LanguageSpec(), 1 << 20, seed=1).tokens
    trained = bigram_table(made, 256)
    h.warmup_end()
    h.done(step=0, train_time_ms=1.0, train_tokens=0)
    if is_rank0():
        h.export_model(trained, example(cfg), cfg.model_path)


main()
