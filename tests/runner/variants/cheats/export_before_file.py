"""Class 2, the export event without a file: `done` and `export` at once, the model written
only after a stretch of "training"."""

from common import *  # the test puts common.py's body in place of this line


def main():
    cfg, h = start()
    h.warmup_end()
    h.done(step=0, train_time_ms=1.0, train_tokens=0)
    if is_rank0():
        h.event("export", path=cfg.model_path, size_bytes=0)
        busy(8)
        trained = bigram_table(np.fromfile(cfg.train_files[0], "<u2", offset=1024), 256)
        torch.export.save(torch.export.export(trained, (example(cfg),)), cfg.model_path)


main()
