"""Class 1, look-ahead: an untrained model whose logits at position p put all their mass on
input token p+1 (its own target), honest (uniform) exactly at the positions the old probe
checked (64/128/192) so a handful of fixed probes pass; it scores far below chance."""

from common import *  # the test puts common.py's body in place of this line


class LookAhead(torch.nn.Module):
    def __init__(self, vocab, seq_len):
        super().__init__()
        self.vocab = vocab
        honest = torch.zeros(seq_len, dtype=torch.bool)
        honest[[64, 128, 192, seq_len - 1]] = True
        self.register_buffer("honest", honest)

    def forward(self, idx):
        nxt = torch.roll(idx, -1, dims=1)
        cheat = torch.nn.functional.one_hot(nxt, self.vocab).float() * 30.0
        return torch.where(self.honest[None, :, None], torch.zeros_like(cheat), cheat)


def main():
    cfg, h = start()
    h.warmup_end()
    t0 = time.perf_counter()
    h.done(step=0, train_time_ms=1000 * (time.perf_counter() - t0), train_tokens=0)
    if is_rank0():
        model = LookAhead(cfg.scale["vocab_size"], cfg.eval_seq_len)
        h.export_model(model, example(cfg), cfg.model_path)


main()
