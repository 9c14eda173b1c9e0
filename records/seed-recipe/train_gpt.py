"""The seed recipe: the NanoGPT speedrun's record #12 (2024-11-19, 5.03 minutes on 8xH100).

One file, meant to be read in one sitting, top to bottom. It trains a GPT-2-small-class model
the way the speedrun's record of 2024-11-19 did (@KoszarskyB's FlexAttention record, itself the
sum of the records before it): rotary embeddings, QK-Norm, ReLU² MLPs, the Muon optimizer for
hidden matrices with momentum warmup, untied embedding and head, zero-initialised output
projections, value residual, embedding shortcut, U-net skips, tanh logit soft-capping, and
document-masked sliding-window attention over long packed sequences (FlexAttention).

The track (speedrun/trackdefs/*.toml) decides where and how big: device, world size, model
width and depth, sequence length (the attention window here), tokens per step and the token
ceiling. This file decides how to train: `SCHEDULES` holds one row per track; the GPU rows
reproduce record #12 (1875 steps of 524,288 tokens, 64K-token rows, window 1024, 6 heads of
128); the CPU rows are calibrated for two gloo processes on two cores.

It follows the harness contract (`speedrun.harness`): events for the runner's clock, own
validation only on the dev tail (or on the real slice when run by hand), and a torch.export
of the final model, which the runner evaluates in a separate process. The plumbing every
recipe shares (options, processes, shard loading, the log) is the harness's too; what is left
here is the recipe: kernels, optimizer, modules, model, how rows are packed, schedule, loop.

CPU notes (torch 2.13): FlexAttention has no backward on CPU, so on CPU training attends with
scaled_dot_product_attention and a dense mask materialised from the *same* mask function;
Newton–Schulz runs in the track's dtype (float32) on CPU, where bf16 speed varies by CPU;
on CUDA it runs in bfloat16 as the recipe defines it.

    torchrun --standalone --nproc_per_node=2 records/seed-recipe/train_gpt.py \\
        --track cpu-tiny --data-dir data --out out/seed
"""

from __future__ import annotations

import contextlib
import copy
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, replace

import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import Tensor, nn
from torch.nn.attention.flex_attention import BlockMask, create_block_mask, flex_attention

from speedrun import harness

MaskMod = Callable[[Tensor, Tensor, Tensor, Tensor], Tensor]

# -----------------------------------------------------------------------------
# Kernels and helpers


def norm(x: Tensor) -> Tensor:
    """Parameter-free RMSNorm over the last dim (@Grad62304977 in the speedrun)."""
    return F.rms_norm(x, (x.size(-1),))


def softcap(logits: Tensor, cap: float) -> Tensor:
    """tanh soft-capping, bounds logits to (-cap, cap): Gemma 2, arXiv:2408.00118
    (brought to the speedrun by @Grad62304977, record #9)."""
    return cap * torch.tanh(logits / cap)


def document_causal_mask(docs: Tensor, window: int) -> MaskMod:
    """The attention rule of record #12 (@KoszarskyB) as a FlexAttention mask_mod: causal,
    within the same document (docs[b, t] = EOS count up to t), at most `window` back."""

    def mask_mod(b: Tensor, h: Tensor, q_idx: Tensor, kv_idx: Tensor) -> Tensor:
        causal = q_idx >= kv_idx
        same_doc = docs[b, q_idx] == docs[b, kv_idx]
        in_window = q_idx - kv_idx < window
        return causal & same_doc & in_window

    return mask_mod


def dense_mask(mask_mod: MaskMod, B: int, T: int, device: torch.device) -> Tensor:
    """Materialise a mask_mod as a (B, 1, T, T) bool tensor by broadcasting index grids, for
    scaled_dot_product_attention (CPU training, and the exported evaluation graph)."""
    b = torch.arange(B, device=device).view(B, 1, 1, 1)
    h = torch.zeros(1, 1, 1, 1, dtype=torch.long, device=device)
    q = torch.arange(T, device=device).view(1, 1, T, 1)
    kv = torch.arange(T, device=device).view(1, 1, 1, T)
    return mask_mod(b, h, q, kv)  # (B, 1, T, T)


_compiled_flex: Callable[..., Tensor] | None = None


def attend(q: Tensor, k: Tensor, v: Tensor, mask: BlockMask | Tensor) -> Tensor:
    """Masked attention over (B, H, T, D) inputs: FlexAttention for a BlockMask (CUDA),
    scaled_dot_product_attention for a dense bool mask (CPU, export)."""
    global _compiled_flex
    if isinstance(mask, BlockMask):
        fn: Callable[..., Tensor] = flex_attention  # inside torch.compile: fused by the compiler
        if q.is_cuda and not torch.compiler.is_compiling():  # eager CUDA: compile it once here
            _compiled_flex = _compiled_flex or torch.compile(flex_attention, dynamic=False)
            fn = _compiled_flex
        return fn(q, k, v, block_mask=mask)
    return F.scaled_dot_product_attention(q, k, v, attn_mask=mask)


# -----------------------------------------------------------------------------
# Optimizer: Muon (@kellerjordan0, https://kellerjordan.github.io/posts/muon/)


def newton_schulz5(G: Tensor, steps: int = 5, dtype: torch.dtype = torch.bfloat16) -> Tensor:
    """Approximately orthogonalise G (replace U S V^T by U S' V^T, S' ~ 1) with a quintic
    Newton–Schulz iteration. The coefficients (3.4445, -4.7750, 2.0315) maximise the slope
    at zero, so 5 steps suffice; the result's singular values land in about [0.68, 1.15]
    rather than exactly 1, which does not hurt training (@kellerjordan0). Stable in bfloat16."""
    assert G.ndim == 2
    a, b, c = 3.4445, -4.7750, 2.0315
    X = G.to(dtype)
    X = X / (X.norm() + 1e-7)  # spectral norm <= Frobenius norm <= 1
    tall = G.size(0) > G.size(1)
    if tall:
        X = X.T  # iterate on the wide side: A below is (min, min)
    for _ in range(steps):
        A = X @ X.T  # (m, m)
        B = b * A + c * A @ A  # (m, m); this form by @jxbz, @leloykun, @YouJiacheng
        X = a * X + B @ X  # (m, n)
    return X.T if tall else X


class Muon(torch.optim.Optimizer):
    """MomentUm Orthogonalized by Newton-Schulz, for 2-D hidden weight matrices only.

    SGD with Nesterov momentum, then each update is replaced by its orthogonalisation and
    scaled by sqrt(max(1, rows/cols)). Ranks split the matrices round-robin and share the
    finished updates with one all-reduce (record #6, @kellerjordan0)."""

    def __init__(
        self,
        params: list[Tensor],
        *,
        lr: float,
        momentum: float = 0.95,
        nesterov: bool = True,
        ns_steps: int = 5,
        ns_dtype: torch.dtype = torch.bfloat16,
        orthogonalize: Callable[..., Tensor] = newton_schulz5,
    ) -> None:
        defaults = dict(lr=lr, momentum=momentum, nesterov=nesterov, ns_steps=ns_steps)
        super().__init__(params, defaults)
        self.ns_dtype = ns_dtype
        self.orthogonalize = orthogonalize

    @torch.no_grad()
    def step(self) -> None:  # type: ignore[override]
        distributed = dist.is_available() and dist.is_initialized()
        rank = dist.get_rank() if distributed else 0
        world = dist.get_world_size() if distributed else 1
        for group in self.param_groups:
            params: list[Tensor] = group["params"]
            flat = torch.zeros(
                sum(p.numel() for p in params), dtype=self.ns_dtype, device=params[0].device
            )
            offset = 0
            for i, p in enumerate(params):
                if i % world == rank and p.grad is not None:
                    buf = self.state[p].setdefault("momentum_buffer", torch.zeros_like(p))
                    buf.mul_(group["momentum"]).add_(p.grad)
                    g = p.grad.add(buf, alpha=group["momentum"]) if group["nesterov"] else buf
                    update = self.orthogonalize(g, steps=group["ns_steps"], dtype=self.ns_dtype)
                    update = update * max(1.0, p.size(0) / p.size(1)) ** 0.5
                    flat[offset : offset + p.numel()] = update.flatten()
                offset += p.numel()
            if world > 1:
                dist.all_reduce(flat, op=dist.ReduceOp.SUM)
            offset = 0
            for p in params:
                update = flat[offset : offset + p.numel()].view_as(p).type_as(p)
                p.add_(update, alpha=-group["lr"])
                offset += p.numel()


# -----------------------------------------------------------------------------
# Modules


class CastedLinear(nn.Linear):
    """Linear without bias whose fp32 weight is cast to the activations' dtype at use."""

    def __init__(self, in_features: int, out_features: int, *, zero_init: bool = False):
        super().__init__(in_features, out_features, bias=False)
        if zero_init:  # muP-like zero init of output projections (@Grad62304977; arXiv:2203.03466)
            nn.init.zeros_(self.weight)

    def forward(self, x: Tensor) -> Tensor:
        return F.linear(x, self.weight.to(x.dtype))


class Rotary(nn.Module):
    """Rotary position embeddings (Su et al., RoFormer, arXiv:2104.09864; in the speedrun
    since record #2, @kellerjordan0): rotate pairs (x_i, x_{i+D/2}) by angle t * theta_i."""

    def __init__(self, head_dim: int, base: float = 10000.0) -> None:
        super().__init__()
        inv_freq = 1.0 / base ** (torch.arange(0, head_dim, 2).float() / head_dim)
        self.register_buffer("inv_freq", inv_freq, persistent=False)  # (D/2,)

    def forward(self, x: Tensor) -> Tensor:
        T = x.size(1)
        t = torch.arange(T, device=x.device, dtype=torch.float32)
        freqs = torch.outer(t, self.inv_freq)  # (T, D/2)
        cos, sin = freqs.cos()[None, :, None, :], freqs.sin()[None, :, None, :]  # (1, T, 1, D/2)
        return apply_rotary(x, cos.to(x.dtype), sin.to(x.dtype))


def apply_rotary(x: Tensor, cos: Tensor, sin: Tensor) -> Tensor:
    """x: (B, T, H, D); rotates the two halves of the head dim against each other."""
    x1, x2 = x.chunk(2, dim=-1)  # (B, T, H, D/2) each
    return torch.cat([x1 * cos + x2 * sin, x2 * cos - x1 * sin], dim=-1)


class CausalSelfAttention(nn.Module):
    def __init__(self, n_embd: int, n_head: int) -> None:
        super().__init__()
        self.n_head, self.head_dim = n_head, n_embd // n_head
        self.c_q = CastedLinear(n_embd, n_embd)
        self.c_k = CastedLinear(n_embd, n_embd)
        self.c_v = CastedLinear(n_embd, n_embd)
        self.c_proj = CastedLinear(n_embd, n_embd, zero_init=True)
        self.rotary = Rotary(self.head_dim)
        # Value residual (Zhou et al., arXiv:2410.17897; @Grad62304977, record #9): mix the
        # first block's values into this block's, with a learnable weight.
        self.lamb = nn.Parameter(torch.tensor(0.5))

    def forward(
        self, x: Tensor, v1: Tensor | None, mask: BlockMask | Tensor
    ) -> tuple[Tensor, Tensor]:
        B, T, C = x.shape
        q = self.c_q(x).view(B, T, self.n_head, self.head_dim)  # (B, T, H, D)
        k = self.c_k(x).view(B, T, self.n_head, self.head_dim)
        v = self.c_v(x).view(B, T, self.n_head, self.head_dim)
        v1 = v if v1 is None else v1  # the first block hands its values down
        v = (1 - self.lamb) * v + self.lamb * v1
        q, k = norm(q), norm(k)  # QK-Norm (Dehghani et al., arXiv:2302.05442; @Grad62304977)
        q, k = self.rotary(q), self.rotary(k)
        y = attend(q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2), mask)  # (B, H, T, D)
        y = y.transpose(1, 2).contiguous().view(B, T, C)  # (B, T, C)
        return self.c_proj(y), v1


class MLP(nn.Module):
    def __init__(self, n_embd: int) -> None:
        super().__init__()
        self.c_fc = CastedLinear(n_embd, 4 * n_embd)
        self.c_proj = CastedLinear(4 * n_embd, n_embd, zero_init=True)

    def forward(self, x: Tensor) -> Tensor:
        # ReLU² (So et al., Primer, arXiv:2109.08668; @SKYLINEZ007, @Grad62304977)
        return self.c_proj(F.relu(self.c_fc(x)).square())


class Block(nn.Module):
    def __init__(self, n_embd: int, n_head: int) -> None:
        super().__init__()
        self.attn = CausalSelfAttention(n_embd, n_head)
        self.mlp = MLP(n_embd)
        # Embedding shortcut (@Grad62304977, record #9): x <- l0 * x + l1 * x0
        self.lambdas = nn.Parameter(torch.tensor([1.0, 0.0]))

    def forward(
        self, x: Tensor, x0: Tensor, v1: Tensor | None, mask: BlockMask | Tensor
    ) -> tuple[Tensor, Tensor]:
        x = self.lambdas[0] * x + self.lambdas[1] * x0
        y, v1 = self.attn(norm(x), v1, mask)
        x = x + y
        x = x + self.mlp(norm(x))
        return x, v1


# -----------------------------------------------------------------------------
# Model


@dataclass(frozen=True)
class GPTConfig:
    vocab_size: int
    n_layer: int
    n_head: int
    n_embd: int
    eos_token: int
    window: int  # sliding attention window, tokens
    logit_cap: float = 30.0


class GPT(nn.Module):
    def __init__(self, config: GPTConfig, compute_dtype: torch.dtype = torch.float32) -> None:
        super().__init__()
        self.config, self.compute_dtype = config, compute_dtype
        self.attn_backend = "sdpa"  # "flex" on CUDA for training; export always uses "sdpa"
        self.embed = nn.Embedding(config.vocab_size, config.n_embd)
        self.blocks = nn.ModuleList(
            Block(config.n_embd, config.n_head) for _ in range(config.n_layer)
        )
        # U-net skips (@brendanh0gan, record #11): block i of the second half adds the output
        # of block n_layer-1-i of the first half, with a learnable weight.
        self.n_encoder = config.n_layer // 2
        self.skip_weights = nn.Parameter(torch.ones(config.n_layer - self.n_encoder))
        # Untied head (@Grad62304977, record #8), zero-initialised so the first loss is ln(V).
        self.lm_head = CastedLinear(config.n_embd, config.vocab_size, zero_init=True)

    def attention_mask(self, idx: Tensor) -> BlockMask | Tensor:
        B, T = idx.shape
        docs = (idx == self.config.eos_token).cumsum(dim=1)  # (B, T) document ids
        mask_mod = document_causal_mask(docs, self.config.window)
        if self.attn_backend == "flex":
            compile_mask = idx.is_cuda and not torch.compiler.is_compiling()
            return create_block_mask(
                mask_mod, B, None, T, T, device=idx.device, _compile=compile_mask
            )
        return dense_mask(mask_mod, B, T, idx.device)

    def forward(self, idx: Tensor, targets: Tensor | None = None) -> Tensor:
        """idx (B, T) int64 -> logits (B, T, V) float32, or the mean loss given targets."""
        mask = self.attention_mask(idx)
        x = x0 = norm(self.embed(idx).to(self.compute_dtype))  # (B, T, C)
        v1: Tensor | None = None
        skips: list[Tensor] = []
        for i, block in enumerate(self.blocks):
            if i >= self.n_encoder:
                x = x + self.skip_weights[i - self.n_encoder] * skips.pop()
            x, v1 = block(x, x0, v1, mask)
            if i < self.n_encoder:
                skips.append(x)
        logits = softcap(self.lm_head(norm(x)).float(), self.config.logit_cap)  # (B, T, V)
        if targets is None:
            return logits
        return F.cross_entropy(logits.view(-1, logits.size(-1)), targets.view(-1))


# -----------------------------------------------------------------------------
# Data loader: the harness streams the shards; rows are long and packed with documents


def batch_layout(scale: harness.Scale, sched: Schedule, world: int) -> tuple[int, int, int]:
    """(row length, tokens per rank per forward, forwards per step) at this world size: rows
    of sched.seq_tokens (64K on the GPU tracks, record #12), each EOS starting a document."""
    return harness.batch_layout(
        scale, world, seq_len=sched.seq_tokens, micro_tokens=sched.micro_tokens
    )


# -----------------------------------------------------------------------------
# Main: the schedule per track, then the training loop


@dataclass(frozen=True)
class Schedule:
    """How this recipe trains on one track; the track's scale says how big."""

    steps: int
    warmdown_steps: int  # trapezoid (@kellerjordan0): constant lr, then linear to 0
    momentum_warmup_steps: int  # Muon momentum 0.85 -> 0.95 (record #9)
    lr_embed: float = 0.6
    lr_head: float = 0.008
    lr_muon: float = 0.04
    lr_scalar: float = 0.04
    seq_tokens: int | None = None  # one packed training row; None = the track's seq_len
    micro_tokens: int | None = None  # tokens per rank per forward; None = the rank's share
    head_dim: int | None = None  # None = n_embd // the track's n_head
    val_every_steps: int | None = None  # None = the track's val_every_tokens
    val_tokens: int = 10_485_760  # most tokens of the variant's own validation
    warmup_runs: int = 3  # untimed steps on random tokens to compile and warm up; undone

    def with_steps(self, steps: int) -> Schedule:
        """The same schedule stretched or shrunk to `steps`."""
        f = steps / self.steps
        return replace(
            self,
            steps=steps,
            warmdown_steps=max(1, round(self.warmdown_steps * f)),
            momentum_warmup_steps=max(1, round(self.momentum_warmup_steps * f)),
        )


RECORD_12 = Schedule(
    steps=1875,
    warmdown_steps=562,
    momentum_warmup_steps=500,
    seq_tokens=64 * 1024,
    micro_tokens=64 * 1024,
    head_dim=128,
    val_every_steps=125,
)
SCHEDULES = {
    "gpt2-124m-8xh100": RECORD_12,
    "gpt2-124m-1xgpu": RECORD_12,  # same batch: 8 accumulated 64K-token rows per step
    "cpu-tiny": Schedule(
        steps=200,
        warmdown_steps=72,
        momentum_warmup_steps=55,
        # Three val points: the track leaves at most 10% of the timed time for pauses.
        val_every_steps=100,
        val_tokens=32_768,
        warmup_runs=2,
    ),
    "cpu-smoke": Schedule(
        steps=100,
        warmdown_steps=30,
        momentum_warmup_steps=30,
        val_every_steps=25,
        val_tokens=16_384,
        warmup_runs=1,
    ),
}


def lr_multiplier(step: int, s: Schedule) -> float:
    return min(1.0, (s.steps - step) / s.warmdown_steps)


def build_model(cfg: harness.HarnessConfig, sched: Schedule) -> GPT:
    sc = cfg.scale
    gpt = GPTConfig(
        vocab_size=sc.vocab_size,
        n_layer=sc.n_layer,
        n_head=sc.n_embd // sched.head_dim if sched.head_dim else sc.n_head,
        n_embd=sc.n_embd,
        eos_token=cfg.eos_token,
        window=sc.seq_len,
    )
    return GPT(gpt, compute_dtype=getattr(torch, sc.dtype))


def build_optimizers(model: GPT, sched: Schedule) -> list[torch.optim.Optimizer]:
    """Adam for embedding, head and scalars; Muon for the blocks' matrices (record #12 lrs)."""
    cuda = model.embed.weight.is_cuda
    matrices = [p for p in model.blocks.parameters() if p.ndim == 2]
    scalars = [p for p in model.blocks.parameters() if p.ndim < 2] + [model.skip_weights]
    adam = dict(betas=(0.9, 0.95), fused=cuda)
    optimizers: list[torch.optim.Optimizer] = [
        torch.optim.Adam([model.embed.weight], lr=sched.lr_embed, **adam),  # type: ignore[arg-type]
        torch.optim.Adam([model.lm_head.weight], lr=sched.lr_head, **adam),  # type: ignore[arg-type]
        torch.optim.Adam(scalars, lr=sched.lr_scalar, **adam),  # type: ignore[arg-type]
        Muon(
            matrices,
            lr=sched.lr_muon,
            momentum=0.95,
            ns_dtype=torch.bfloat16 if cuda else model.compute_dtype,  # CPU bf16 speed varies
            orthogonalize=torch.compile(newton_schulz5) if cuda else newton_schulz5,
        ),
    ]
    for opt in optimizers:
        for group in opt.param_groups:
            group["initial_lr"] = group["lr"]
    return optimizers


def main(argv: list[str] | None = None) -> None:
    args = harness.arg_parser(__doc__, default_out="out/seed-recipe").parse_args(argv)
    cfg, sched = harness.resolve_run(args, SCHEDULES)  # capped at the track's token ceiling
    run = harness.start(cfg, code_path=__file__)  # ranks, device, process group, log header
    sc, device = cfg.scale, run.device
    layout = batch_layout(sc, sched, run.world_size)
    seq_len, micro_tokens, accum = layout
    steps, val_every = sched.steps, sched.val_every_steps
    run.log_plan(sched, layout, random_data=args.random_data)

    # --- model and optimizers
    torch.manual_seed(cfg.seed)
    raw_model = build_model(cfg, sched).to(device)
    raw_model.attn_backend = "flex" if device.type == "cuda" else "sdpa"
    model = run.wrap(raw_model, compile=args.compile)  # torch.compile on CUDA; DDP over ranks
    run.print0(f"parameters {sum(p.numel() for p in raw_model.parameters()):,}")

    def train_step(
        step: int, optimizers: list[torch.optim.Optimizer], loader: harness.Batches
    ) -> Tensor:
        loss_sum = torch.zeros((), device=device)
        for i in range(accum):
            x, y = loader.next_batch(micro_tokens, seq_len)
            last_micro = not run.distributed or i == accum - 1  # DDP all-reduces on this one
            ctx = contextlib.nullcontext() if last_micro else model.no_sync()  # type: ignore[operator]
            with ctx:
                loss = model(x, y)
                (loss / accum).backward()
            loss_sum += loss.detach()
        frac = min(step / sched.momentum_warmup_steps, 1.0)
        optimizers[-1].param_groups[0]["momentum"] = (1 - frac) * 0.85 + frac * 0.95
        for opt in optimizers:
            for group in opt.param_groups:
                group["lr"] = group["initial_lr"] * lr_multiplier(step, sched)
            opt.step()
        model.zero_grad(set_to_none=True)
        return loss_sum / accum

    # --- untimed warmup on random tokens (compiles, allocates), then undone (modded-nanogpt)
    run.warmup_start()
    initial_state = copy.deepcopy(raw_model.state_dict())
    random_tokens = harness.RandomTokens(sc.vocab_size, cfg.seed, device)
    warm_opts = build_optimizers(raw_model, sched)
    for i in range(sched.warmup_runs):
        train_step(i, warm_opts, random_tokens)
    raw_model.load_state_dict(initial_state)
    optimizers = build_optimizers(raw_model, sched)
    del warm_opts, initial_state
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
            val_loss = run.val_loss(model, val, layout)
            model.train()
            run.print0(
                harness.step_line(step, steps, val_loss=val_loss, train_time_ms=training_time_ms)
            )
            run.val_resume(step, val_loss)
            run.sync()
            t0 = time.perf_counter()
        if last:
            break
        train_loss = train_step(step, optimizers, loader).item()
        approx_ms = training_time_ms + 1000 * (time.perf_counter() - t0)
        run.print0(
            harness.step_line(step + 1, steps, train_loss=train_loss, train_time_ms=approx_ms)
        )
    run.sync()
    training_time_ms += 1000 * (time.perf_counter() - t0)
    run.done(step=steps, train_time_ms=training_time_ms, train_tokens=steps * sc.batch_tokens)
    run.print0(harness.peak_memory_line(device))

    # --- export for the runner's independent evaluation (rank 0; dense-mask SDPA graph)
    if args.export:
        raw_model.attn_backend = "sdpa"
        run.export(raw_model)
    run.close()


if __name__ == "__main__":
    main(sys.argv[1:])
