"""The llm.c baseline: GPT-2 small trained the way Andrej Karpathy's llm.c trains it.

One file, meant to be read in one sitting, top to bottom. This is record #1 of the NanoGPT
speedrun (45 minutes on 8xH100, 10B tokens, final val loss 3.2722 in the speedrun's re-run of
llm.c, records/track_1_short/2024-10-13_llmc): the GPT-2 architecture (learned position
embeddings, pre-LayerNorm with biases, GELU MLP, token embedding tied to the output head) and
AdamW with linear warmup and cosine decay to zero, gradient clipping at 1.0, weight decay 0.1
on matrices. References: llm.c (https://github.com/karpathy/llm.c, @karpathy and
contributors), its GPT-2 124M reproduction (https://github.com/karpathy/llm.c/discussions/481),
GPT-2 (Radford et al. 2019), nanoGPT (https://github.com/karpathy/nanoGPT).

The track (speedrun/trackdefs/*.toml) decides where and how big: device, world size, model
width and depth, sequence length, tokens per step and the token ceiling. This file decides how
to train: `SCHEDULES` holds one row per track; the GPU rows reproduce llm.c's GPT-2 124M run
(19,560 steps of 524,288 tokens, lr 6e-4, 700 warmup steps); the CPU rows are scaled down for
two gloo processes on two cores.

It follows the harness contract (`speedrun.harness`): events for the runner's clock, own
validation only on the dev tail (or on the real slice when run by hand), and a torch.export
of the final model, which the runner evaluates in a separate process. The plumbing every
recipe shares (options, processes, shard loading, the log) is the harness's too; what is left
here is the recipe: model, optimizer, schedule and training loop.

    torchrun --standalone --nproc_per_node=2 records/llmc-baseline/train_gpt.py \\
        --track cpu-tiny --data-dir data --out out/llmc
"""

from __future__ import annotations

import contextlib
import copy
import math
import sys
import time
from dataclasses import dataclass, replace

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from speedrun import harness

# -----------------------------------------------------------------------------
# Kernels and helpers


def new_gelu(x: Tensor) -> Tensor:
    """GELU with the tanh approximation, as GPT-2 and llm.c use it."""
    return F.gelu(x, approximate="tanh")


def causal_attention(q: Tensor, k: Tensor, v: Tensor) -> Tensor:
    """Plain causal attention over (B, H, T, D): no document masking, as in llm.c."""
    return F.scaled_dot_product_attention(q, k, v, is_causal=True)


# -----------------------------------------------------------------------------
# Optimizer: AdamW with llm.c's parameter groups and schedule


def build_optimizer(model: nn.Module, sched: Schedule, fused: bool) -> torch.optim.AdamW:
    """AdamW; weight decay on matrices and embeddings (ndim >= 2) only, as llm.c does."""
    decay = [p for p in model.parameters() if p.ndim >= 2]
    no_decay = [p for p in model.parameters() if p.ndim < 2]
    groups = [
        {"params": decay, "weight_decay": sched.weight_decay},
        {"params": no_decay, "weight_decay": 0.0},
    ]
    return torch.optim.AdamW(groups, lr=sched.lr, betas=(0.9, 0.95), eps=1e-8, fused=fused)


def lr_at(step: int, s: Schedule) -> float:
    """Linear warmup over warmup_steps, then cosine decay to final_lr_frac * lr (llm.c)."""
    if step < s.warmup_steps:
        return s.lr * (step + 1) / s.warmup_steps
    progress = (step - s.warmup_steps) / max(1, s.steps - s.warmup_steps)
    final = s.lr * s.final_lr_frac
    return final + 0.5 * (s.lr - final) * (1.0 + math.cos(math.pi * progress))


# -----------------------------------------------------------------------------
# Modules


class CausalSelfAttention(nn.Module):
    def __init__(self, n_embd: int, n_head: int) -> None:
        super().__init__()
        self.n_head = n_head
        self.c_attn = nn.Linear(n_embd, 3 * n_embd)
        self.c_proj = nn.Linear(n_embd, n_embd)
        self.c_proj.residual_scale = True  # type: ignore[assignment]

    def forward(self, x: Tensor) -> Tensor:
        B, T, C = x.shape
        q, k, v = self.c_attn(x).split(C, dim=2)  # (B, T, C) each
        q = q.view(B, T, self.n_head, C // self.n_head).transpose(1, 2)  # (B, H, T, D)
        k = k.view(B, T, self.n_head, C // self.n_head).transpose(1, 2)
        v = v.view(B, T, self.n_head, C // self.n_head).transpose(1, 2)
        y = causal_attention(q, k, v)  # (B, H, T, D)
        y = y.transpose(1, 2).contiguous().view(B, T, C)  # (B, T, C)
        return self.c_proj(y)


class MLP(nn.Module):
    def __init__(self, n_embd: int) -> None:
        super().__init__()
        self.c_fc = nn.Linear(n_embd, 4 * n_embd)
        self.c_proj = nn.Linear(4 * n_embd, n_embd)
        self.c_proj.residual_scale = True  # type: ignore[assignment]

    def forward(self, x: Tensor) -> Tensor:
        return self.c_proj(new_gelu(self.c_fc(x)))


class Block(nn.Module):
    def __init__(self, n_embd: int, n_head: int) -> None:
        super().__init__()
        self.ln_1 = nn.LayerNorm(n_embd)
        self.attn = CausalSelfAttention(n_embd, n_head)
        self.ln_2 = nn.LayerNorm(n_embd)
        self.mlp = MLP(n_embd)

    def forward(self, x: Tensor) -> Tensor:
        x = x + self.attn(self.ln_1(x))
        x = x + self.mlp(self.ln_2(x))
        return x


# -----------------------------------------------------------------------------
# Model


@dataclass(frozen=True)
class GPTConfig:
    vocab_size: int
    n_layer: int
    n_head: int
    n_embd: int
    block_size: int  # longest sequence: the size of the learned position table


class GPT(nn.Module):
    def __init__(self, config: GPTConfig) -> None:
        super().__init__()
        self.config = config
        self.wte = nn.Embedding(config.vocab_size, config.n_embd)
        self.wpe = nn.Embedding(config.block_size, config.n_embd)  # learned positions
        self.h = nn.ModuleList(Block(config.n_embd, config.n_head) for _ in range(config.n_layer))
        self.ln_f = nn.LayerNorm(config.n_embd)
        self.lm_head = nn.Linear(config.n_embd, config.vocab_size, bias=False)
        self.lm_head.weight = self.wte.weight  # weight tying (Press & Wolf, arXiv:1608.05859)
        self.apply(self._init_weights)

    def _init_weights(self, module: nn.Module) -> None:
        """GPT-2 / llm.c init: N(0, 0.02), residual projections N(0, 0.02 / sqrt(2 n_layer)),
        zero biases; the tied head keeps the embedding's init."""
        if isinstance(module, nn.Linear) and module is not self.lm_head:
            std = 0.02
            if getattr(module, "residual_scale", False):
                std /= math.sqrt(2 * self.config.n_layer)
            nn.init.normal_(module.weight, mean=0.0, std=std)
            if module.bias is not None:
                nn.init.zeros_(module.bias)
        elif isinstance(module, nn.Embedding):
            nn.init.normal_(module.weight, mean=0.0, std=0.02)

    def forward(self, idx: Tensor, targets: Tensor | None = None) -> Tensor:
        """idx (B, T) int64 -> logits (B, T, V) float32, or the mean loss given targets."""
        T = idx.size(1)
        pos = torch.arange(T, device=idx.device)  # (T,)
        x = self.wte(idx) + self.wpe(pos)  # (B, T, C)
        for block in self.h:
            x = block(x)
        logits = self.lm_head(self.ln_f(x)).float()  # (B, T, V)
        if targets is None:
            return logits
        return F.cross_entropy(logits.view(-1, logits.size(-1)), targets.view(-1))


# -----------------------------------------------------------------------------
# Data loader: the harness streams the shards; rows of the track's length, as llm.c's loader


def batch_layout(scale: harness.Scale, sched: Schedule, world: int) -> tuple[int, int, int]:
    """(row length, tokens per rank per forward, forwards per step) at this world size."""
    return harness.batch_layout(scale, world, micro_tokens=sched.micro_tokens)


# -----------------------------------------------------------------------------
# Main: the schedule per track, then the training loop


@dataclass(frozen=True)
class Schedule:
    """How llm.c trains on one track; the track's scale says how big."""

    steps: int
    warmup_steps: int
    lr: float = 6e-4
    final_lr_frac: float = 0.0
    weight_decay: float = 0.1
    grad_clip: float = 1.0
    micro_tokens: int | None = None  # tokens per rank per forward; None = the rank's share
    val_every_steps: int | None = None  # None = the track's val_every_tokens
    val_tokens: int = 10_485_760  # most tokens of the variant's own validation
    warmup_runs: int = 3  # untimed steps on random tokens to compile and warm up; undone

    def with_steps(self, steps: int) -> Schedule:
        """The same schedule stretched or shrunk to `steps`."""
        warmup = max(1, round(self.warmup_steps * steps / self.steps))
        return replace(self, steps=steps, warmup_steps=warmup)


# llm.c GPT-2 124M (discussion #481; -b 64 -t 1024 -d 524288 -l 0.0006 -u 700 -c 0.1 -q 0.0):
# 64 rows of 1024 per GPU and micro-step; 19,560 steps = 10.26B tokens as in the speedrun's log.
LLMC_124M = Schedule(steps=19_560, warmup_steps=700, micro_tokens=64 * 1024, val_every_steps=250)
SCHEDULES = {
    "gpt2-124m-8xh100": LLMC_124M,
    "gpt2-124m-1xgpu": LLMC_124M,  # same batch: 8 accumulated micro-steps per step
    # CPU rows: llm.c's recipe with lr raised for a 128-wide model (a small sweep picked it;
    # see README) and the warmup fraction of the 124M run (700 / 19,560 ~ 3.6%).
    # Seven val points: the track leaves at most 10% of the timed time for pauses.
    "cpu-tiny": Schedule(
        steps=2400, warmup_steps=86, lr=6e-3, val_every_steps=400, val_tokens=32_768, warmup_runs=2
    ),
    "cpu-smoke": Schedule(
        steps=100, warmup_steps=5, lr=1e-2, val_every_steps=25, val_tokens=16_384, warmup_runs=1
    ),
}


def build_model(cfg: harness.HarnessConfig) -> GPT:
    sc = cfg.scale
    block = max(sc.seq_len, cfg.eval_seq_len)
    return GPT(GPTConfig(sc.vocab_size, sc.n_layer, sc.n_head, sc.n_embd, block))


def main(argv: list[str] | None = None) -> None:
    p = harness.arg_parser(__doc__, default_out="out/llmc-baseline")
    p.add_argument("--lr", type=float, default=None, help="override the schedule's lr")
    args = p.parse_args(argv)
    cfg, sched = harness.resolve_run(args, SCHEDULES)  # capped at the track's token ceiling
    if args.lr is not None:
        sched = replace(sched, lr=args.lr)
    run = harness.start(cfg, code_path=__file__)  # ranks, device, process group, log header
    sc, device = cfg.scale, run.device
    layout = batch_layout(sc, sched, run.world_size)
    seq_len, micro_tokens, accum = layout
    steps, val_every = sched.steps, sched.val_every_steps
    run.log_plan(sched, layout, random_data=args.random_data)

    # --- model and optimizer; bf16 autocast where the track asks for it (llm.c trains in bf16)
    torch.manual_seed(cfg.seed)
    raw_model = build_model(cfg).to(device)
    model = run.wrap(raw_model, compile=args.compile)  # torch.compile on CUDA; DDP over ranks
    run.print0(f"parameters {sum(p.numel() for p in raw_model.parameters()):,}")
    bf16 = sc.dtype == "bfloat16"

    def autocast() -> contextlib.AbstractContextManager[None]:
        if not bf16:
            return contextlib.nullcontext()
        return torch.autocast(device_type=device.type, dtype=torch.bfloat16)

    def train_step(step: int, optimizer: torch.optim.Optimizer, loader: harness.Batches) -> Tensor:
        loss_sum = torch.zeros((), device=device)
        for i in range(accum):
            x, y = loader.next_batch(micro_tokens, seq_len)
            last_micro = not run.distributed or i == accum - 1  # DDP all-reduces on this one
            ctx = contextlib.nullcontext() if last_micro else model.no_sync()  # type: ignore[operator]
            with ctx:
                with autocast():
                    loss = model(x, y)
                (loss / accum).backward()
            loss_sum += loss.detach()
        torch.nn.utils.clip_grad_norm_(raw_model.parameters(), sched.grad_clip)
        for group in optimizer.param_groups:
            group["lr"] = lr_at(step, sched)
        optimizer.step()
        model.zero_grad(set_to_none=True)
        return loss_sum / accum

    # --- untimed warmup on random tokens (compiles, allocates), then undone
    run.warmup_start()
    initial_state = copy.deepcopy(raw_model.state_dict())
    random_tokens = harness.RandomTokens(sc.vocab_size, cfg.seed, device)
    fused = device.type == "cuda"
    warm_opt = build_optimizer(raw_model, sched, fused)
    for i in range(sched.warmup_runs):
        train_step(i, warm_opt, random_tokens)
    raw_model.load_state_dict(initial_state)
    optimizer = build_optimizer(raw_model, sched, fused)
    del warm_opt, initial_state
    run.sync()
    run.warmup_end()  # the runner opens the training data here: nothing is read before it
    if args.random_data:
        loader: harness.Batches = random_tokens
        val = None
    else:
        loader = harness.TokenLoader(cfg.train_files, run.rank, run.world_size, device)
        val = harness.load_val_tokens(cfg, sched.val_tokens)

    # --- training: the clock runs from here, paused around validation
    training_time_ms = 0.0
    t0 = time.perf_counter()
    for step in range(steps + 1):
        last = step == steps
        if val is not None and (last or step % val_every == 0):
            run.sync()
            training_time_ms += 1000 * (time.perf_counter() - t0)
            run.val_pause(step)
            model.eval()
            val_loss = run.val_loss(model, val, layout, autocast)
            model.train()
            run.print0(
                harness.step_line(step, steps, val_loss=val_loss, train_time_ms=training_time_ms)
            )
            run.val_resume(step, val_loss)
            run.sync()
            t0 = time.perf_counter()
        if last:
            break
        train_loss = train_step(step, optimizer, loader).item()
        approx_ms = training_time_ms + 1000 * (time.perf_counter() - t0)
        run.print0(
            harness.step_line(step + 1, steps, train_loss=train_loss, train_time_ms=approx_ms)
        )
    run.sync()
    training_time_ms += 1000 * (time.perf_counter() - t0)
    run.done(step=steps, train_time_ms=training_time_ms, train_tokens=steps * sc.batch_tokens)
    run.print0(harness.peak_memory_line(device))

    # --- export for the runner's independent evaluation (rank 0; fp32 graph)
    if args.export:
        run.export(raw_model)
    run.close()


if __name__ == "__main__":
    main(sys.argv[1:])
