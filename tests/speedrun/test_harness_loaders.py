"""speedrun.harness.loaders: token batches from real shard files across ranks, seeded random
warmup tokens, the variant's own val slice, and batch layouts that must divide evenly."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch

from speedrun.data.shards import write_shard
from speedrun.harness.config import HarnessConfig, Scale
from speedrun.harness.loaders import (
    BatchLayout,
    RandomTokens,
    TokenLoader,
    batch_layout,
    load_val_tokens,
)

CPU = torch.device("cpu")
SCALE = Scale(
    device="cpu",
    dtype="float32",
    world_size=2,
    vocab_size=1000,
    n_layer=1,
    n_head=1,
    n_embd=8,
    seq_len=4,
    batch_tokens=32,
    max_train_tokens=1000,
    val_every_tokens=100,
)


def test_ranks_take_disjoint_slices_and_targets_are_shifted_by_one(tmp_path: Path) -> None:
    shard = tmp_path / "train_001.bin"
    write_shard(shard, np.arange(100))
    rank0 = TokenLoader([str(shard)], rank=0, world_size=2, device=CPU)
    rank1 = TokenLoader([str(shard)], rank=1, world_size=2, device=CPU)
    x0, y0 = rank0.next_batch(8, 4)
    x1, y1 = rank1.next_batch(8, 4)
    assert y1.flatten().tolist() == list(range(9, 17))
    assert x0.dtype == torch.int64 and x0.shape == (2, 4)
    assert x0.flatten().tolist() == list(range(8))
    assert y0.flatten().tolist() == list(range(1, 9))
    assert x1.flatten().tolist() == list(range(8, 16))
    assert rank0.next_batch(8, 4)[0].flatten().tolist() == list(range(16, 24))


def test_the_loader_moves_to_the_next_shard_when_one_runs_out(tmp_path: Path) -> None:
    first, second = tmp_path / "train_001.bin", tmp_path / "train_002.bin"
    write_shard(first, np.arange(10))
    write_shard(second, np.arange(500, 520))
    loader = TokenLoader([str(first), str(second)], rank=0, world_size=1, device=CPU)
    assert loader.next_batch(8, 4)[0].flatten().tolist() == list(range(8))
    assert loader.next_batch(8, 4)[0].flatten().tolist() == list(range(500, 508))
    with pytest.raises(SystemExit, match="no training shards"):
        TokenLoader([], rank=0, world_size=1, device=CPU)


def test_random_tokens_are_seeded_and_in_the_vocabulary() -> None:
    a = RandomTokens(50, seed=1, device=CPU).next_batch(64, 8)
    b = RandomTokens(50, seed=1, device=CPU).next_batch(64, 8)
    c = RandomTokens(50, seed=2, device=CPU).next_batch(64, 8)
    assert torch.equal(a[0], b[0]) and not torch.equal(a[0], c[0])
    assert torch.equal(a[0].flatten()[1:], a[1].flatten()[:-1])
    assert int(a[0].min()) >= 0 and int(a[0].max()) < 50


def test_val_tokens_are_capped_by_the_request_and_the_slice(tmp_path: Path) -> None:
    val = tmp_path / "val.bin"
    write_shard(val, np.arange(30))
    cfg = HarnessConfig(
        track="t@v1",
        scale=SCALE,
        seed=0,
        train_files=[],
        dev_file=None,
        output_dir=str(tmp_path),
        model_path=str(tmp_path / "model.pt2"),
        eval_seq_len=4,
        eval_batch_seqs=1,
        eos_token=0,
        val_file=str(val),
        val_tokens=10,
    )
    tokens = load_val_tokens(cfg, max_tokens=20)
    assert tokens is not None and tokens.tolist() == list(range(11))
    assert load_val_tokens(replace(cfg, val_tokens=None), max_tokens=5).tolist() == list(range(6))  # type: ignore[union-attr]
    assert load_val_tokens(replace(cfg, val_file=None), max_tokens=5) is None


def test_batch_layout_splits_the_step_or_refuses_an_uneven_split() -> None:
    assert batch_layout(SCALE, 2) == BatchLayout(seq_len=4, micro_tokens=16, accum=1)
    assert batch_layout(SCALE, 2, micro_tokens=8) == BatchLayout(4, 8, 2)
    assert batch_layout(SCALE, 1, seq_len=8, micro_tokens=16) == BatchLayout(8, 16, 2)
    with pytest.raises(SystemExit, match="does not split into 3 ranks"):
        batch_layout(SCALE, 3)
    with pytest.raises(SystemExit, match="6-token forwards"):
        batch_layout(SCALE, 2, micro_tokens=6)
