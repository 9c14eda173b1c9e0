"""runner.causality: the evaluator's probes, drawn before anything is scored and sized so a
model that leaks at 1% of the scored positions is missed with a chance below 0.1%. A causal
model passes; one that reads later tokens, mixes the rows of a batch, answers differently
to the same call, or gives logits of the wrong shape is refused with the reason."""

from __future__ import annotations

import math
import random
from collections import Counter
from typing import Any

import pytest

from runner.causality import (
    LEAK_RATE,
    MISS_PROBABILITY,
    PROBES,
    Model,
    Shape,
    plan_probes,
    probe_causality,
    score,
)
from runner.pt2fields import RefusedError

torch = pytest.importorskip("torch")

SHAPE = Shape(seq_len=8, batch_seqs=4, vocab_size=16, windows=30)


@pytest.fixture(scope="module")
def data() -> Any:
    g = torch.Generator().manual_seed(0)
    return torch.randint(0, SHAPE.vocab_size, (SHAPE.windows * SHAPE.seq_len + 1,), generator=g)


class Bigram(torch.nn.Module):  # type: ignore[misc]
    def __init__(self, mode: str = "causal") -> None:
        super().__init__()
        torch.manual_seed(1)
        self.emb = torch.nn.Embedding(SHAPE.vocab_size, SHAPE.vocab_size)
        self.mode = mode

    def forward(self, x: Any) -> Any:
        logits = self.emb(x)
        if self.mode == "lookahead":  # reads the next token
            logits = logits + self.emb(torch.roll(x, -1, dims=1))
        elif self.mode == "mixer":  # reads the other rows of its batch
            logits = logits + logits.mean(dim=0, keepdim=True)
        elif self.mode == "noisy":
            logits = logits + torch.rand_like(logits)
        elif self.mode == "wide":
            logits = torch.cat([logits, logits], dim=-1)
        return logits


def check(mode: str, data: Any) -> dict[str, Any]:
    model = Model(Bigram(mode).eval(), torch.device("cpu"), SHAPE.vocab_size)
    plan = plan_probes(data, SHAPE, random.Random(3))
    with torch.no_grad():
        scored = score(model, data, SHAPE, plan)
        return probe_causality(model, data, SHAPE, plan, scored)


def test_the_probe_count_follows_the_zero_failure_formula() -> None:
    assert PROBES == 688
    assert (1 - LEAK_RATE) ** PROBES < MISS_PROBABILITY < (1 - LEAK_RATE) ** (PROBES - 1)


def test_a_plan_fills_whole_batches_and_spreads_a_windows_rows(data: Any) -> None:
    plan = plan_probes(data, SHAPE, random.Random(0))
    rows = [row for batch in plan.batches for row in batch]
    assert all(len(batch) == SHAPE.batch_seqs for batch in plan.batches)
    assert plan.sampled == PROBES and len(rows) >= PROBES + 8
    assert 0 <= plan.repeat_batch < math.ceil(SHAPE.windows / SHAPE.batch_seqs)
    T = SHAPE.seq_len
    for row in rows:
        if row.cut < T - 1:  # a donor that differs right after the cut, where one exists
            assert row.donor != row.window
    per_batch = [Counter(row.window for row in batch) for batch in plan.batches]
    assert max(c.most_common(1)[0][1] for c in per_batch) <= 2  # windows dealt across batches
    assert plan_probes(data, SHAPE, random.Random(0)) == plan  # the seed decides everything


def test_a_causal_model_passes_and_its_loss_is_the_slices(data: Any) -> None:
    result = check("causal", data)
    assert result["passed"] and result["probes"] == PROBES and result["dtype"] == "float32"
    assert result["max_abs_diff"] <= result["tolerance"] == 1e-4
    model = Model(Bigram().eval(), torch.device("cpu"), SHAPE.vocab_size)
    plan = plan_probes(data, SHAPE, random.Random(3))
    with torch.no_grad():
        scored = score(model, data, SHAPE, plan)
        n = SHAPE.windows * SHAPE.seq_len
        expected = torch.nn.functional.cross_entropy(
            Bigram()(data[:n][None]).flatten(0, 1), data[1 : n + 1], reduction="sum"
        )
    assert scored.loss_sum == pytest.approx(float(expected), rel=1e-5)


@pytest.mark.parametrize(
    ("mode", "reason"),
    [
        ("lookahead", "not causal: window "),
        ("mixer", "rows of a batch influence each other"),
        ("noisy", "non-deterministic: two identical calls"),
        ("wide", "must map (B, T) tokens to (4, 8, 16) logits, gave (4, 8, 32)"),
    ],
)
def test_hostile_models_are_refused_with_the_reason(data: Any, mode: str, reason: str) -> None:
    with pytest.raises(RefusedError, match=reason.replace("(", r"\(").replace(")", r"\)")):
        check(mode, data)
