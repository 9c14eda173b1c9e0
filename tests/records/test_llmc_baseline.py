"""records/llmc-baseline/train_gpt.py: GPT-2 as llm.c builds and trains it, checked piece by
piece, its schedule against llm.c's own log, then run for real (world size 1 and 2)."""

from __future__ import annotations

import json
import math
import re
import subprocess
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

import pytest
import torch
from torch import nn

from speedrun import harness
from speedrun.logparse import parse_log
from speedrun.tracks import get_track

LLMC_LOG = (
    Path(__file__).resolve().parents[3]
    / "shared/fixtures/modded-nanogpt/records/track_1_short/2024-10-13_llmc/main.log"
)


def small_model(bl: ModuleType, n_embd: int = 64, n_layer: int = 4) -> nn.Module:
    torch.manual_seed(0)
    return bl.GPT(
        bl.GPTConfig(vocab_size=64, n_layer=n_layer, n_head=4, n_embd=n_embd, block_size=32)
    )


def random_tokens(B: int, T: int, seed: int = 0) -> torch.Tensor:
    return torch.randint(0, 64, (B, T), generator=torch.Generator().manual_seed(seed))


def test_embedding_is_tied_to_the_head(llmc_baseline: ModuleType) -> None:
    model = small_model(llmc_baseline)
    assert model.lm_head.weight is model.wte.weight
    assert model.lm_head.bias is None
    n_params = sum(p.numel() for p in model.parameters())  # the shared matrix counted once
    assert n_params == sum(p.numel() for n, p in model.named_parameters() if "lm_head" not in n)
    idx = random_tokens(2, 16)
    model(idx, torch.roll(idx, -1, 1)).backward()
    grad = model.wte.weight.grad
    assert grad is not None and grad.abs().sum() > 0  # one gradient: input use + output use


def test_positions_are_learned_embeddings(llmc_baseline: ModuleType) -> None:
    model = small_model(llmc_baseline)
    assert model.wpe.weight.shape == (32, 64) and model.wpe.weight.requires_grad
    same = torch.full((1, 16), 7)  # one token repeated: only positions tell the places apart
    with torch.no_grad():
        logits = model(same)
        assert not torch.allclose(logits[0, 3], logits[0, 9], atol=1e-4)
        model.wpe.weight.zero_()
        logits = model(same)
        assert torch.allclose(logits[0, 3], logits[0, 9], atol=1e-5)


def test_gpt2_init_and_first_loss(llmc_baseline: ModuleType) -> None:
    model = small_model(llmc_baseline, n_embd=128, n_layer=4)
    block = model.h[0]
    assert block.attn.c_attn.weight.std().item() == pytest.approx(0.02, rel=0.05)
    assert block.mlp.c_fc.weight.std().item() == pytest.approx(0.02, rel=0.05)
    residual_std = 0.02 / math.sqrt(2 * 4)
    assert block.attn.c_proj.weight.std().item() == pytest.approx(residual_std, rel=0.05)
    assert block.mlp.c_proj.weight.std().item() == pytest.approx(residual_std, rel=0.05)
    assert model.wte.weight.std().item() == pytest.approx(0.02, rel=0.05)
    assert torch.count_nonzero(block.attn.c_attn.bias) == 0
    assert isinstance(block.ln_1, nn.LayerNorm) and block.ln_1.bias is not None
    idx = random_tokens(4, 32)
    loss = model(idx, random_tokens(4, 32, seed=1))
    assert loss.item() == pytest.approx(math.log(64), abs=0.1)


def test_mlp_is_gelu_tanh(llmc_baseline: ModuleType) -> None:
    mlp = llmc_baseline.MLP(16)
    x = torch.randn(2, 5, 16)
    expected = mlp.c_proj(nn.functional.gelu(mlp.c_fc(x), approximate="tanh"))
    assert torch.allclose(mlp(x), expected)


def test_attention_is_causal(llmc_baseline: ModuleType) -> None:
    model = small_model(llmc_baseline)
    idx = random_tokens(1, 24)
    changed = idx.clone()
    changed[0, 12:] = (changed[0, 12:] + 5) % 64
    with torch.no_grad():
        a, b = model(idx), model(changed)
    assert torch.allclose(a[0, :12], b[0, :12], atol=1e-6)
    assert not torch.allclose(a[0, 12:], b[0, 12:])


def test_weight_decay_on_matrices_only(llmc_baseline: ModuleType) -> None:
    model = small_model(llmc_baseline)
    opt = llmc_baseline.build_optimizer(model, llmc_baseline.LLMC_124M, fused=False)
    decay, no_decay = opt.param_groups
    assert decay["weight_decay"] == 0.1 and no_decay["weight_decay"] == 0.0
    assert all(p.ndim == 2 for p in decay["params"]) and all(
        p.ndim == 1 for p in no_decay["params"]
    )
    assert any(p is model.wte.weight for p in decay["params"])
    assert opt.defaults["betas"] == (0.9, 0.95) and opt.defaults["eps"] == 1e-8


def test_schedule_reproduces_llmc_learning_rates(llmc_baseline: ModuleType) -> None:
    s = llmc_baseline.LLMC_124M
    assert (s.steps, s.warmup_steps, s.lr, s.final_lr_frac) == (19560, 700, 6e-4, 0.0)
    # Values printed by llm.c in the speedrun's log of it (2024-10-13_llmc/main.log).
    logged = {
        0: 0.000001,
        78: 0.000068,
        700: 0.000600,
        4000: 0.000556,
        9780: 0.000317,
        15000: 0.000082,
        19559: 0.0,
    }
    if LLMC_LOG.exists():  # every train line of the real log, when the fixtures are beside us
        pattern = re.compile(r"^s:(\d+) trl:\S+ lr:(\S+)", re.MULTILINE)
        logged = {int(m[1]): float(m[2]) for m in pattern.finditer(LLMC_LOG.read_text())}
        assert len(logged) == 19560
    for step, lr in logged.items():
        assert abs(llmc_baseline.lr_at(step, s) - lr) <= 6e-7, step  # printed to 6 decimals


def test_gpu_rows_reproduce_llmc_gpt2_124m(llmc_baseline: ModuleType) -> None:
    s = llmc_baseline.SCHEDULES["gpt2-124m-8xh100"]
    assert s == llmc_baseline.SCHEDULES["gpt2-124m-1xgpu"] == llmc_baseline.LLMC_124M
    for track_id, world, accum in [("gpt2-124m-8xh100", 8, 1), ("gpt2-124m-1xgpu", 1, 8)]:
        track = get_track(track_id)
        scale = track.scale
        assert llmc_baseline.batch_layout(scale, s, world) == (1024, 65536, accum)
        assert s.steps * track.scale.batch_tokens <= track.scale.max_train_tokens
        cfg = harness.standalone_config(track_id, "/nonexistent", "/tmp/x", 0)
        with torch.device("meta"):
            model = llmc_baseline.build_model(cfg)
        assert sum(p.numel() for p in model.parameters()) == 124_475_904  # GPT-2 124M, V=50304
    assert s.steps * 524288 == pytest.approx(10.26e9, rel=1e-3)  # the log's 10.26B tokens


@pytest.mark.parametrize("dtype", ["float32", "bfloat16"])
def test_forward_backward_at_world_size_one(llmc_baseline: ModuleType, dtype: str) -> None:
    model = small_model(llmc_baseline)
    sched = llmc_baseline.SCHEDULES["cpu-smoke"]
    opt = llmc_baseline.build_optimizer(model, sched, fused=False)
    idx = random_tokens(4, 32)
    targets = torch.roll(idx, -1, 1)
    ctx = torch.autocast("cpu", dtype=torch.bfloat16, enabled=dtype == "bfloat16")
    losses = []
    for _ in range(5):
        with ctx:
            loss = model(idx, targets)
        loss.backward()
        assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in model.parameters())
        opt.step()
        opt.zero_grad(set_to_none=True)
        losses.append(loss.item())
    assert losses[-1] < losses[0] - 0.3


def test_main_runs_by_hand_at_world_size_one(
    llmc_baseline: ModuleType,
    smoke_data: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    for key in ("RANK", "WORLD_SIZE", harness.CONFIG_ENV, harness.EVENTS_ENV):
        monkeypatch.delenv(key, raising=False)
    out = tmp_path / "out"
    llmc_baseline.main(
        [
            "--track",
            "cpu-smoke",
            "--data-dir",
            str(smoke_data),
            "--out",
            str(out),
            "--steps",
            "6",
            "--val-every",
            "3",
            "--no-export",
        ]
    )
    [run] = parse_log(capsys.readouterr().out)
    assert run.format == "harness" and run.completed
    assert [p.step for p in run.val_points] == [0, 3, 6]
    assert run.final_val_loss is not None and run.final_val_loss < run.val_points[0].val_loss  # type: ignore[operator]


def test_two_gloo_processes_under_torchrun_follow_the_harness_contract(
    smoke_data: Path,
    tmp_path: Path,
    torchrun: Callable[..., subprocess.CompletedProcess[str]],
    make_runner_config: Callable[[str, Path, Path, int], Path],
) -> None:
    out = tmp_path / "out"
    config = make_runner_config("cpu-smoke", smoke_data, out, 5)
    events = tmp_path / "events.jsonl"
    proc = torchrun(
        "llmc-baseline", [], env={harness.CONFIG_ENV: str(config), harness.EVENTS_ENV: str(events)}
    )
    [run] = parse_log(proc.stdout)
    # the default cpu-smoke schedule reaches the track's target (other suites rely on it)
    assert run.final_val_loss is not None
    assert run.final_val_loss <= get_track("cpu-smoke").rules.target_val_loss
    assert run.format == "harness" and run.completed and run.peak_memory_allocated_mib
    names = [json.loads(line)["event"] for line in events.read_text().splitlines()]
    assert names[:3] == ["hello", "warmup_start", "warmup_end"] and names[-2:] == ["done", "export"]
    program = torch.export.load(str(out / harness.MODEL_FILE))
    track = get_track("cpu-smoke")
    x = random_tokens(track.evaluation.batch_seqs, track.evaluation.seq_len) * 4  # ids < 256
    logits = program.module()(x)
    assert logits.shape == (track.evaluation.batch_seqs, track.evaluation.seq_len, 256)
    assert torch.isfinite(logits).all()
