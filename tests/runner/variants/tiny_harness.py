"""A tiny harness variant for the runner's tests: a 2-layer GPT trained with AdamW under DDP
(gloo), following the harness contract (events, dev-file val lines, torch.export). Steps are
capped by TINY_STEPS (default 60) so an attempt on cpu-smoke takes seconds. Tests derive
hostile variants from this file by replacing the `# HOOK:<name>` lines.
"""

import os
import time

import numpy as np
import torch
import torch.distributed as dist
import torch.nn as nn
import torch.nn.functional as F

from speedrun import harness
from speedrun.data.shards import read_shard

# ---------------------------------------------------------------- model


class Block(nn.Module):
    def __init__(self, n_embd, n_head):
        super().__init__()
        self.n_head = n_head
        self.ln1, self.ln2 = nn.LayerNorm(n_embd), nn.LayerNorm(n_embd)
        self.qkv = nn.Linear(n_embd, 3 * n_embd)
        self.proj = nn.Linear(n_embd, n_embd)
        self.mlp = nn.Sequential(
            nn.Linear(n_embd, 4 * n_embd), nn.GELU(), nn.Linear(4 * n_embd, n_embd)
        )

    def forward(self, x):
        B, T, C = x.shape
        q, k, v = self.qkv(self.ln1(x)).split(C, dim=2)
        q, k, v = (t.view(B, T, self.n_head, C // self.n_head).transpose(1, 2) for t in (q, k, v))
        y = F.scaled_dot_product_attention(q, k, v, is_causal=True)  # (B, nh, T, hs)
        x = x + self.proj(y.transpose(1, 2).reshape(B, T, C))
        return x + self.mlp(self.ln2(x))


class GPT(nn.Module):
    def __init__(self, vocab_size, n_layer, n_head, n_embd, seq_len):
        super().__init__()
        self.wte = nn.Embedding(vocab_size, n_embd)
        self.wpe = nn.Embedding(seq_len, n_embd)
        self.blocks = nn.ModuleList(Block(n_embd, n_head) for _ in range(n_layer))
        self.ln_f = nn.LayerNorm(n_embd)
        self.lm_head = nn.Linear(n_embd, vocab_size, bias=False)

    def forward(self, idx):  # (B, T) -> (B, T, V)
        pos = torch.arange(idx.size(1), device=idx.device)
        x = self.wte(idx) + self.wpe(pos)
        for block in self.blocks:
            x = block(x)
        return self.lm_head(self.ln_f(x))


# ---------------------------------------------------------------- data


def batch(tokens, offset, n_seqs, seq_len):
    buf = torch.from_numpy(tokens[offset : offset + n_seqs * seq_len + 1].astype(np.int64))
    return buf[:-1].view(n_seqs, seq_len), buf[1:].view(n_seqs, seq_len)


def dev_loss(model, tokens, seq_len, n_seqs=8):
    model.eval()
    with torch.no_grad():
        x, y = batch(tokens, 0, n_seqs, seq_len)
        loss = F.cross_entropy(model(x).view(-1, model.lm_head.out_features), y.view(-1))
    model.train()
    return float(loss)


# ---------------------------------------------------------------- main


def main():
    dist.init_process_group("gloo")
    rank, world = dist.get_rank(), dist.get_world_size()
    cfg = harness.load_config()
    h = harness.Harness(rank=rank, world_size=world)
    h.hello()
    h.warmup_start()
    s = cfg.scale
    torch.manual_seed(cfg.seed)
    # HOOK:start
    model = GPT(s["vocab_size"], s["n_layer"], s["n_head"], s["n_embd"], s["seq_len"])
    ddp = nn.parallel.DistributedDataParallel(model)
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3, weight_decay=0.0)
    seqs = s["batch_tokens"] // (s["seq_len"] * world)
    steps = min(int(os.environ.get("TINY_STEPS", "60")), s["max_train_tokens"] // s["batch_tokens"])
    dist.barrier()
    h.warmup_end()  # the training data opens here
    train = read_shard(cfg.train_files[0])
    dev = read_shard(cfg.dev_file) if cfg.dev_file else train[-10000:]
    train_ms, t0 = 0.0, time.perf_counter()
    for step in range(steps + 1):
        if step % 20 == 0 or step == steps:
            train_ms += 1000 * (time.perf_counter() - t0)
            h.val_pause(step)
            loss = dev_loss(model, dev, s["seq_len"])
            if rank == 0:
                print(
                    f"step:{step}/{steps} val_loss:{loss:.4f} train_time:{train_ms:.0f}ms "
                    f"step_avg:{train_ms / max(step, 1):.2f}ms",
                    flush=True,
                )
            h.val_resume(step, loss)
            t0 = time.perf_counter()
        if step == steps:
            break
        offset = (step * world + rank) * seqs * s["seq_len"]
        x, y = batch(train, offset % (len(train) - seqs * s["seq_len"] - 1), seqs, s["seq_len"])
        loss = F.cross_entropy(ddp(x).view(-1, s["vocab_size"]), y.view(-1))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        # HOOK:step
    # HOOK:done
    h.done(steps, train_time_ms=train_ms, train_tokens=steps * s["batch_tokens"])
    example = torch.zeros(cfg.eval_batch_seqs, cfg.eval_seq_len, dtype=torch.int64)
    h.export_model(model, example, cfg.model_path)
    h.close()
    dist.destroy_process_group()


if __name__ == "__main__":
    main()
