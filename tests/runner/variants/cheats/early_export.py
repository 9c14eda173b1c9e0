"""Class 2, the clock stopped at the export event: `done` and `export` right after
warmup_end (with an untrained model written), then "training" for a while and the better
model written over the first one before a clean exit."""

from common import *  # the test puts common.py's body in place of this line


def main():
    cfg, h = start()
    h.warmup_end()
    h.done(step=0, train_time_ms=1.0, train_tokens=0)
    if is_rank0():
        h.export_model(Table(cfg.scale["vocab_size"]), example(cfg), cfg.model_path)
        busy(8)
        trained = bigram_table(np.fromfile(cfg.train_files[0], "<u2", offset=1024), 256)
        torch.export.save(torch.export.export(trained, (example(cfg),)), cfg.model_path)


main()
