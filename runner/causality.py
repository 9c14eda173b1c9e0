"""Causality probes of the independent evaluator: scoring a slice while keeping what the probes
compare with, then the probes themselves (runner.evaluate runs them; see its docstring).

Probes are sized by the zero-failure ("success-run") formula of acceptance sampling: n uniform
draws miss a defect of rate p with probability (1 - p)^n, so n >= ln(miss) / ln(1 - p): a model
that leaks at 1% of the scored positions is missed with probability 0.99^688 < 0.1%. They are
drawn from the operating system's secret random source before anything is scored, and compared
with the scored forward passes themselves. torch is imported only inside functions.
"""

from __future__ import annotations

import itertools
import math
import random
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from runner.pt2fields import RefusedError

LEAK_RATE = 0.01  # a model that leaks at 1% of scored positions...
MISS_PROBABILITY = 1e-3  # ...is missed with a chance below 0.1%: (1 - 0.01)^688 < 1e-3
PROBES = math.ceil(math.log(MISS_PROBABILITY) / math.log1p(-LEAK_RATE))  # 688
MIN_UNCHANGED_ROWS = 8  # beyond the drawn probes: whole windows among others (row independence)
# Tolerance on a target log-prob, in nats, by the output dtype. The compared numbers are the very
# terms the score sums, so whatever a model reads from later tokens or other rows at a probed
# position gains it at most this much there unseen. An honest model repeats a row's numbers
# exactly in practice (same shapes, same kernels); the margin covers kernels that round a row
# differently at another batch index: a few float32 ulps of a log-prob, or about one ulp of a
# logit below 8 in bf16 (2^-5) or fp16 (2^-8) when the model's output is that coarse.
LOGPROB_TOL = {"float64": 1e-4, "float32": 1e-4, "bfloat16": 2.0**-5, "float16": 2.0**-8}


@dataclass(frozen=True)
class Shape:
    seq_len: int  # T
    batch_seqs: int  # B
    vocab_size: int  # V
    windows: int  # scored windows


@dataclass(frozen=True)
class ProbeRow:
    """Window `window` with its tokens after position `cut` taken from window `donor`; target
    log-probs at positions <= cut are compared (cut == T - 1: the window is unchanged)."""

    window: int
    cut: int
    donor: int


@dataclass(frozen=True)
class ProbePlan:
    batches: list[list[ProbeRow]]
    repeat_batch: int  # a scored batch run once more: identical calls must agree
    sampled: int  # rows drawn uniformly over (window, position); the rest are unchanged windows


@dataclass
class Scored:
    loss_sum: float
    dtype: str
    kept: dict[int, Any]  # window -> its target log-probs (T,), for probed windows only
    repeat: Any  # (B, T) target log-probs of plan.repeat_batch


def plan_probes(tokens: Any, shape: Shape, rng: random.Random) -> ProbePlan:
    """The probes, drawn before anything is scored; see the module docstring."""
    T, B, n = shape.seq_len, shape.batch_seqs, shape.windows
    n_batches = math.ceil((PROBES + MIN_UNCHANGED_ROWS) / B)
    rows = [_draw_probe(tokens, shape, rng) for _ in range(PROBES)]
    unchanged = (rng.randrange(n) for _ in range(n_batches * B - PROBES))
    rows += [ProbeRow(w, T - 1, w) for w in unchanged]
    return ProbePlan(_deal(rows, n_batches, rng), rng.randrange(math.ceil(n / B)), PROBES)


def _draw_probe(tokens: Any, shape: Shape, rng: random.Random) -> ProbeRow:
    T, n = shape.seq_len, shape.windows
    window, cut = rng.randrange(n), rng.randrange(T)
    if cut == T - 1:
        return ProbeRow(window, cut, window)
    donor, first = window, window * T + cut + 1  # `first`: the first replaced token
    for _ in range(32):  # a real window that differs right after the cut
        donor = rng.randrange(n)
        if donor != window and tokens[donor * T + cut + 1] != tokens[first]:
            break
    return ProbeRow(window, cut, donor)


def _deal(rows: list[ProbeRow], n_batches: int, rng: random.Random) -> list[list[ProbeRow]]:
    """Rows into batches in random order, the rows of one window into different batches (a row
    could otherwise read its own continuation from a copy of its window)."""
    by_window: dict[int, list[ProbeRow]] = {}
    for row in rows:
        by_window.setdefault(row.window, []).append(row)
    order = list(by_window)
    rng.shuffle(order)
    flat = [row for window in order for row in by_window[window]]
    batches = [flat[i::n_batches] for i in range(n_batches)]
    for batch in batches:
        rng.shuffle(batch)
    return batches


@dataclass(frozen=True)
class Model:
    module: Any
    device: Any
    vocab_size: int

    def logprobs(self, x: Any, y: Any) -> tuple[Any, str]:
        """log_softmax(logits) in float32 at the targets, (B, T) on the CPU; the logits' dtype."""
        torch = _torch()
        out = self.module(x.to(self.device))
        want = (*x.shape, self.vocab_size)
        if not isinstance(out, torch.Tensor) or tuple(out.shape) != want:
            got = tuple(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__
            raise RefusedError(f"the model must map (B, T) tokens to {want} logits, gave {got}")
        dtype = str(out.dtype).removeprefix("torch.")
        if dtype not in LOGPROB_TOL:
            raise RefusedError(f"the model's logits must be floating point, not {dtype}")
        lp = torch.log_softmax(out.float(), dim=-1).gather(-1, y.to(out.device)[..., None])
        if not torch.isfinite(out).all() or not torch.isfinite(lp).all():
            raise RefusedError("the model produced non-finite logits or log-probs")
        return lp.squeeze(-1).cpu(), dtype


def score(model: Model, data: Any, shape: Shape, plan: ProbePlan) -> Scored:
    """The summed loss over the slice, keeping the target log-probs the probes compare with."""
    keep = {row.window for batch in plan.batches for row in batch}
    scored = Scored(0.0, "", {}, None)
    for index, (x, y, start, used) in enumerate(_scored_batches(data, shape)):
        lp, scored.dtype = model.logprobs(x, y)
        scored.loss_sum -= float(lp[:used].double().sum())
        scored.kept.update((start + i, lp[i]) for i in range(used) if start + i in keep)
        if index == plan.repeat_batch:
            scored.repeat = lp
    return scored


def _scored_batches(data: Any, shape: Shape) -> Iterator[tuple[Any, Any, int, int]]:
    """(x, y, first window, windows used) with x, y (B, T); the last batch is zero-padded."""
    torch = _torch()
    T, B = shape.seq_len, shape.batch_seqs
    for start in range(0, shape.windows, B):
        used = min(B, shape.windows - start)
        x = torch.zeros(B, T, dtype=torch.int64)
        y = torch.zeros(B, T, dtype=torch.int64)
        x[:used] = data[start * T : (start + used) * T].view(used, T)
        y[:used] = data[start * T + 1 : (start + used) * T + 1].view(used, T)
        yield x, y, start, used


def probe_causality(
    model: Model, data: Any, shape: Shape, plan: ProbePlan, scored: Scored
) -> dict[str, Any]:
    """Run the planned probes against the scored log-probs; refuse at the first difference."""
    torch = _torch()
    started, tol, T = time.monotonic(), LOGPROB_TOL[scored.dtype], shape.seq_len
    worst = _check_repeat(model, data, shape, plan, scored)
    for batch in plan.batches:
        x = torch.stack([_probe_tokens(data, row, shape) for row in batch])
        y = torch.stack([data[r.window * T + 1 : (r.window + 1) * T + 1] for r in batch])
        lp = model.logprobs(x, y)[0]
        ref = torch.stack([scored.kept[row.window] for row in batch])
        cuts = torch.tensor([row.cut for row in batch])
        diff = torch.where(torch.arange(T)[None, :] <= cuts[:, None], (lp - ref).abs(), 0.0)
        row_worst, position = diff.max(dim=1)
        i = int(row_worst.argmax())
        if float(row_worst[i]) > tol:
            where = (int(position[i]), float(row_worst[i]), tol)
            raise _probe_failure(model, (x, y, i), batch[i], ref[i], where)
        worst = max(worst, float(row_worst[i]))
    rows = [row for batch in plan.batches for row in batch]
    return {
        "passed": True,
        "probes": plan.sampled,
        "rows": len(rows),
        "unchanged_rows": sum(row.cut == T - 1 for row in rows),
        "batches": len(plan.batches),
        "repeat_batches": 1,
        "tolerance": tol,
        "dtype": scored.dtype,
        "max_abs_diff": worst,
        "leak_rate": LEAK_RATE,
        "miss_probability": (1 - LEAK_RATE) ** plan.sampled,
        "seconds": round(time.monotonic() - started, 3),
    }


def _check_repeat(model: Model, data: Any, shape: Shape, plan: ProbePlan, scored: Scored) -> float:
    batches = _scored_batches(data, shape)
    x, y, _, _ = next(itertools.islice(batches, plan.repeat_batch, None))
    diff = float((model.logprobs(x, y)[0] - scored.repeat).abs().max())
    tol = LOGPROB_TOL[scored.dtype]
    if diff > tol:
        raise RefusedError(
            f"non-deterministic: two identical calls gave log-probs {diff:.3g} nats apart "
            f"(tolerance {tol:g}); the output must be a function of the input alone, or the "
            "causality probes would read the noise as leaks"
        )
    return diff


def _probe_tokens(data: Any, row: ProbeRow, shape: Shape) -> Any:
    T, w, k = shape.seq_len, row.window, row.cut
    x = data[w * T : (w + 1) * T].clone()
    if k < T - 1:
        x[k + 1 :] = data[row.donor * T + k + 1 : (row.donor + 1) * T]
        if x[k + 1] == data[w * T + k + 1]:  # no window differs there: any other token will do
            x[k + 1] = (x[k + 1] + 1) % shape.vocab_size
    return x


def _probe_failure(
    model: Model,
    batch: tuple[Any, Any, int],
    row: ProbeRow,
    ref: Any,
    where: tuple[int, float, float],
) -> RefusedError:
    """Name the leak: later tokens if restoring the row's own tokens (in the same batch) removes
    the difference, other rows of the batch otherwise."""
    torch = _torch()
    (x, y, i), (position, diff, tol) = batch, where
    changed = f"window {row.window}'s target log-prob at position {position} changed by"
    changed += f" {diff:.3g} nats (tolerance {tol:g})"
    if row.cut < x.size(1) - 1:
        restored = x.clone()
        restored[i] = torch.cat([x[i, :1], y[i, :-1]])  # the window: first token, then targets
        lp = model.logprobs(restored, y)[0][i]
        if float((lp - ref)[: row.cut + 1].abs().max()) <= tol:
            return RefusedError(
                f"not causal: {changed} when the tokens after position {row.cut} were "
                "replaced by other real tokens"
            )
    return RefusedError(
        f"rows of a batch influence each other: {changed} when it was scored beside other windows"
    )


def _torch() -> Any:
    import torch

    return torch
