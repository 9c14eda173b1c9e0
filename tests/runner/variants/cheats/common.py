"""Shared by the cheat variants (copied into each variant's file by the test, since a
variant is one file): an untrained or count-based model, and the harness calls in order.

Every cheat here tries to get a good official score without training under the runner's
clock; tests/runner/test_cheats.py runs each through the docker backend and checks
how it ends."""

import os
import time

import numpy as np
import torch

from speedrun import harness


class Table(torch.nn.Module):
    """logits[b, t] = weight[idx[b, t]]: a bigram table (or a constant, untrained)."""

    def __init__(self, vocab):
        super().__init__()
        self.emb = torch.nn.Embedding(vocab, vocab)
        torch.nn.init.zeros_(self.emb.weight)

    def forward(self, idx):
        return self.emb(idx)


def bigram_table(tokens, vocab):
    counts = np.ones((vocab, vocab))
    np.add.at(counts, (tokens[:-1].astype(np.int64), tokens[1:].astype(np.int64)), 1.0)
    model = Table(vocab)
    with torch.no_grad():
        model.emb.weight.copy_(torch.from_numpy(np.log(counts / counts.sum(1, keepdims=True))))
    return model


def start():
    cfg = harness.load_config()
    h = harness.Harness(rank=int(os.environ.get("RANK", "0")), world_size=1)
    h.hello()
    h.warmup_start()
    return cfg, h


def example(cfg):
    return torch.zeros(cfg.eval_batch_seqs, cfg.eval_seq_len, dtype=torch.int64)


def is_rank0():
    return int(os.environ.get("RANK", "0")) == 0


def busy(seconds):
    """Stands in for training the runner is not supposed to see."""
    end = time.monotonic() + seconds
    x = torch.randn(256, 256)
    while time.monotonic() < end:
        x = torch.tanh(x @ x)
