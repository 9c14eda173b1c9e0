"""Class 2, untimed time after `done`: `done` right after warmup_end (train_time 1 ms), then
"training" and an ordinary export: on live tracks nothing after done is untimed."""

from common import *  # the test puts common.py's body in place of this line


def main():
    cfg, h = start()
    h.warmup_end()
    h.done(step=0, train_time_ms=1.0, train_tokens=0)
    if is_rank0():
        busy(8)
        trained = bigram_table(np.fromfile(cfg.train_files[0], "<u2", offset=1024), 256)
        h.export_model(trained, example(cfg), cfg.model_path)


main()
