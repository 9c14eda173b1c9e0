"""Class 3, training inside an untimed validation pause: all of the training between a
val_pause and its val_resume."""

from common import *  # the test puts common.py's body in place of this line


def main():
    cfg, h = start()
    h.warmup_end()
    t0 = time.perf_counter()
    h.val_pause(0)
    busy(4)
    trained = bigram_table(np.fromfile(cfg.train_files[0], "<u2", offset=1024), 256)
    h.val_resume(0)
    h.done(step=1, train_time_ms=1000 * (time.perf_counter() - t0) - 4000, train_tokens=0)
    if is_rank0():
        h.export_model(trained, example(cfg), cfg.model_path)


main()
