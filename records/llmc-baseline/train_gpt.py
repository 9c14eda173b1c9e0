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
of the final model, which the runner evaluates in a separate process.

    torchrun --standalone --nproc_per_node=2 records/llmc-baseline/train_gpt.py \\
        --track cpu-tiny --data-dir data --out out/llmc
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import math
import os
import platform
import resource
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from typing import Any

import numpy as np
import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import Tensor, nn
from torch.nn.parallel import DistributedDataParallel

from speedrun import harness
from speedrun.data.shards import read_shard
from speedrun.logparse import format_step_line

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
# Data loader


class TokenLoader:
    """Streams the train shards in order; each call every rank takes its own contiguous slice
    of `rank_tokens` (+1 for the shifted targets), like llm.c's distributed loader."""

    def __init__(self, files: list[str], rank: int, world_size: int, device: torch.device):
        if not files:
            raise SystemExit("no training shards found: run `speedrun data fetch` first")
        self.files, self.rank, self.world, self.device = files, rank, world_size, device
        self.shard, self.pos = -1, 0
        self.tokens = self._advance()

    def _advance(self) -> np.ndarray:
        self.shard, self.pos = (self.shard + 1) % len(self.files), 0
        return np.asarray(read_shard(self.files[self.shard]))

    def next_batch(self, rank_tokens: int, seq_len: int) -> tuple[Tensor, Tensor]:
        step_tokens = rank_tokens * self.world
        if self.pos + step_tokens + 1 > len(self.tokens):
            self.tokens = self._advance()
        start = self.pos + self.rank * rank_tokens
        buf = torch.from_numpy(self.tokens[start : start + rank_tokens + 1].astype(np.int64))
        self.pos += step_tokens
        x = buf[:-1].view(-1, seq_len)  # (B, T)
        y = buf[1:].view(-1, seq_len)  # (B, T), next tokens
        return x.to(self.device, non_blocking=True), y.to(self.device, non_blocking=True)


def load_val_tokens(path: str, max_tokens: int) -> np.ndarray:
    """The first max_tokens (+1 target) tokens of a validation or dev shard."""
    tokens = np.asarray(read_shard(path))
    return tokens[: min(len(tokens), max_tokens + 1)].astype(np.int64)


# -----------------------------------------------------------------------------
# Main


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


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--track", default="cpu-tiny", help="track id, when run by hand")
    p.add_argument("--data-dir", default=os.environ.get("SPEEDRUN_DATA_DIR", "data"))
    p.add_argument("--out", default="out/llmc-baseline", help="output directory")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--steps", type=int, default=None, help="override the schedule's steps")
    p.add_argument("--val-every", type=int, default=None, help="steps between val points")
    p.add_argument("--val-tokens", type=int, default=None, help="tokens per val point")
    p.add_argument("--lr", type=float, default=None, help="override the schedule's lr")
    p.add_argument(
        "--compile",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="torch.compile the model (default: on CUDA only)",
    )
    p.add_argument(
        "--random-data",
        action="store_true",
        help="train on uniform random tokens (timing checks without data)",
    )
    p.add_argument("--export", action=argparse.BooleanOptionalAction, default=True)
    return p.parse_args(argv)


def build_model(cfg: harness.HarnessConfig) -> GPT:
    sc = cfg.scale
    block = max(sc["seq_len"], cfg.eval_seq_len)
    return GPT(GPTConfig(sc["vocab_size"], sc["n_layer"], sc["n_head"], sc["n_embd"], block))


def batch_layout(scale: dict[str, Any], sched: Schedule, world: int) -> tuple[int, int, int]:
    """(row length, tokens per rank per forward, forwards per step) at this world size."""
    seq_len = scale["seq_len"]
    rank_tokens = scale["batch_tokens"] // world
    micro_tokens = min(rank_tokens, sched.micro_tokens or rank_tokens)
    if scale["batch_tokens"] % world or rank_tokens % micro_tokens or micro_tokens % seq_len:
        raise SystemExit(
            f"a batch of {scale['batch_tokens']} tokens does not split into {world} ranks "
            f"of {micro_tokens}-token forwards of {seq_len}-token rows"
        )
    return seq_len, micro_tokens, rank_tokens // micro_tokens


def resolve_run(args: argparse.Namespace) -> tuple[harness.HarnessConfig, Schedule]:
    cfg = harness.load_config() or harness.standalone_config(
        args.track, args.data_dir, args.out, args.seed
    )
    track_id = cfg.track.partition("@")[0]
    if track_id not in SCHEDULES:
        raise SystemExit(f"no schedule for track {track_id!r} (known: {sorted(SCHEDULES)})")
    sched = SCHEDULES[track_id]
    if args.steps is not None:
        sched = sched.with_steps(args.steps)
    if args.val_every is not None:
        sched = replace(sched, val_every_steps=args.val_every)
    if args.val_tokens is not None:
        sched = replace(sched, val_tokens=args.val_tokens)
    if args.lr is not None:
        sched = replace(sched, lr=args.lr)
    return cfg, sched


def cpu_model() -> str:
    with open("/proc/cpuinfo", encoding="utf-8") as f:
        names = [ln.split(":", 1)[1].strip() for ln in f if ln.startswith("model name")]
    return names[0] if names else platform.processor()


def log_header(print0: Callable[[str], None], code: str, device: torch.device) -> None:
    """The modded-nanogpt log header: the code, a ruler, versions and hardware, a ruler."""
    print0(code)
    print0("=" * 100)
    print0(f"Running Python {platform.python_version()}")
    print0(f"Running pytorch {torch.__version__} compiled for CUDA {torch.version.cuda}")
    if device.type == "cuda":
        smi = subprocess.run(["nvidia-smi"], capture_output=True, text=True, check=False)
        print0("nvidia-smi:\n" + (smi.stdout or torch.cuda.get_device_name(device)))
    else:
        threads = torch.get_num_threads()
        print0(f"CPU: {cpu_model()}, {os.cpu_count()} cores, {threads} threads/process")
    print0("=" * 100)


def peak_memory_line(device: torch.device) -> str:
    """CUDA: the allocator's peaks. CPU: the process's peak resident set, for both fields."""
    if device.type == "cuda":
        alloc = torch.cuda.max_memory_allocated(device) // 2**20
        reserved = torch.cuda.max_memory_reserved(device) // 2**20
        return f"peak memory allocated: {alloc} MiB reserved: {reserved} MiB"
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024  # KiB on Linux
    return f"peak memory allocated: {rss} MiB reserved: {rss} MiB"


@torch.no_grad()
def evaluate(
    model: nn.Module,
    val: np.ndarray,
    rank_tokens: int,
    seq_len: int,
    rank: int,
    world: int,
    autocast: Callable[[], contextlib.AbstractContextManager[None]],
    device: torch.device,
) -> float:
    """Mean next-token loss over the val tokens, split across ranks in training-shaped rows."""
    step_tokens = rank_tokens * world
    n_batches = (len(val) - 1) // step_tokens
    total = torch.zeros((), device=device)
    for i in range(n_batches):
        start = i * step_tokens + rank * rank_tokens
        buf = torch.from_numpy(val[start : start + rank_tokens + 1]).to(device)
        with autocast():
            total += model(buf[:-1].view(-1, seq_len), buf[1:].view(-1, seq_len)).float()
    if world > 1:
        dist.all_reduce(total, op=dist.ReduceOp.SUM)
    return total.item() / (n_batches * world)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    with open(__file__, encoding="utf-8") as f:
        code = f.read()
    cfg, sched = resolve_run(args)
    sc = cfg.scale

    # --- processes and devices: torchrun sets RANK/WORLD_SIZE; plain python is world size 1
    distributed = "RANK" in os.environ
    rank = int(os.environ.get("RANK", 0))
    world = int(os.environ.get("WORLD_SIZE", 1))
    local_rank = int(os.environ.get("LOCAL_RANK", 0))
    if sc["device"] == "cuda":
        if not torch.cuda.is_available():
            raise SystemExit(f"track {cfg.track} needs CUDA, and none is available")
        device = torch.device("cuda", local_rank)
        torch.cuda.set_device(device)
    else:
        device = torch.device("cpu")
    if distributed:
        dist.init_process_group(backend="nccl" if device.type == "cuda" else "gloo")
    h = harness.Harness(rank=rank, world_size=world)
    h.hello()
    os.makedirs(cfg.output_dir, exist_ok=True)
    logfile = open(os.path.join(cfg.output_dir, "log.txt"), "w") if rank == 0 else None  # noqa: SIM115

    def print0(s: str) -> None:
        if rank == 0:
            print(s, flush=True)
            assert logfile is not None
            logfile.write(s + "\n")

    log_header(print0, code, device)

    # --- sizes: the track fixes tokens per step; rows and accumulation follow from it
    seq_len, micro_tokens, accum = batch_layout(sc, sched, world)
    steps = min(sched.steps, sc["max_train_tokens"] // sc["batch_tokens"])
    if steps < sched.steps:
        sched = sched.with_steps(steps)  # never past the track's token ceiling
    val_every = sched.val_every_steps or max(1, sc["val_every_tokens"] // sc["batch_tokens"])
    print0(
        f"track {cfg.track} seed {cfg.seed} world {world} device {device.type} "
        f"dtype {sc['dtype']} rows {micro_tokens // seq_len}x{seq_len} accum {accum}"
    )
    print0(f"schedule {asdict(sched)}")
    if args.random_data:
        print0("DATA: uniform random tokens (--random-data); losses are not FineWeb losses")

    # --- model and optimizer; bf16 autocast where the track asks for it (llm.c trains in bf16)
    torch.manual_seed(cfg.seed)
    raw_model = build_model(cfg).to(device)
    use_compile = args.compile if args.compile is not None else device.type == "cuda"
    model: nn.Module = torch.compile(raw_model) if use_compile else raw_model
    if distributed:
        model = DistributedDataParallel(
            model, device_ids=[local_rank] if device.type == "cuda" else None
        )
    print0(f"parameters {sum(p.numel() for p in raw_model.parameters()):,}")
    bf16 = sc["dtype"] == "bfloat16"

    def autocast() -> contextlib.AbstractContextManager[None]:
        if not bf16:
            return contextlib.nullcontext()
        return torch.autocast(device_type=device.type, dtype=torch.bfloat16)

    def train_step(
        step: int, optimizer: torch.optim.Optimizer, batches: Callable[[], tuple[Tensor, Tensor]]
    ) -> Tensor:
        loss_sum = torch.zeros((), device=device)
        for i in range(accum):
            x, y = batches()
            last_micro = not distributed or i == accum - 1
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

    def sync() -> None:
        if device.type == "cuda":
            torch.cuda.synchronize()

    # --- untimed warmup on random tokens (compiles, allocates), then undone
    h.warmup_start()
    initial_state = copy.deepcopy(raw_model.state_dict())
    gen = torch.Generator().manual_seed(cfg.seed)

    def random_batch() -> tuple[Tensor, Tensor]:
        buf = torch.randint(0, sc["vocab_size"], (micro_tokens + 1,), generator=gen)
        return (buf[:-1].view(-1, seq_len).to(device), buf[1:].view(-1, seq_len).to(device))

    fused = device.type == "cuda"
    warm_opt = build_optimizer(raw_model, sched, fused)
    for i in range(sched.warmup_runs):
        train_step(i, warm_opt, random_batch)
    raw_model.load_state_dict(initial_state)
    optimizer = build_optimizer(raw_model, sched, fused)
    del warm_opt, initial_state
    sync()
    h.warmup_end()  # the runner opens the training data here: nothing is read before it
    loader = TokenLoader(cfg.train_files, rank, world, device) if not args.random_data else None
    val_path = cfg.val_file or cfg.dev_file
    val_cap = min(sched.val_tokens, cfg.val_tokens or sched.val_tokens)
    val = load_val_tokens(val_path, val_cap) if val_path and not args.random_data else None

    # --- training: the clock runs from here, paused around validation
    training_time_ms = 0.0
    t0 = time.perf_counter()
    for step in range(steps + 1):
        last = step == steps
        if val is not None and (last or step % val_every == 0):
            sync()
            training_time_ms += 1000 * (time.perf_counter() - t0)
            h.val_pause(step)
            model.eval()
            val_loss = evaluate(model, val, micro_tokens, seq_len, rank, world, autocast, device)
            model.train()
            avg_ms = training_time_ms / max(step, 1)
            print0(
                format_step_line(
                    step,
                    steps,
                    val_loss=val_loss,
                    train_time_ms=training_time_ms,
                    step_avg_ms=avg_ms,
                )
            )
            h.val_resume(step, val_loss)
            sync()
            t0 = time.perf_counter()
        if last:
            break
        next_batch = (lambda: loader.next_batch(micro_tokens, seq_len)) if loader else random_batch
        train_loss = train_step(step, optimizer, next_batch)
        approx_ms = training_time_ms + 1000 * (time.perf_counter() - t0)
        print0(
            format_step_line(
                step + 1,
                steps,
                train_loss=train_loss.item(),
                train_time_ms=approx_ms,
                step_avg_ms=approx_ms / (step + 1),
            )
        )
    sync()
    training_time_ms += 1000 * (time.perf_counter() - t0)
    h.done(step=steps, train_time_ms=training_time_ms, train_tokens=steps * sc["batch_tokens"])
    print0(peak_memory_line(device))

    # --- export for the runner's independent evaluation (rank 0; fp32 graph)
    if args.export:
        example = torch.randint(
            0, sc["vocab_size"], (cfg.eval_batch_seqs, cfg.eval_seq_len), device=device
        )
        h.export_model(raw_model, example, cfg.model_path)
        print0(f"exported model to {cfg.model_path}")
    h.close()
    if logfile is not None:
        logfile.close()
    if distributed:
        dist.barrier()
        dist.destroy_process_group()


if __name__ == "__main__":
    main(sys.argv[1:])
