"""The reference variants' exports, at cpu-smoke scale, pass the archive check and the whole
evaluation (the seed recipe exports SDPA with a dense document-causal bool mask, the llm.c
baseline SDPA with is_causal); the evaluator's loss is the model's own loss on the slice."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import pytest

from runner import evaluate as ev
from runner import pt2check
from speedrun.data.shards import read_shard
from speedrun.tracks import get_track

torch = pytest.importorskip("torch")

ROOT = Path(__file__).resolve().parents[2]
TRACK = get_track("cpu-smoke")
T, B, V = TRACK.evaluation.seq_len, TRACK.evaluation.batch_seqs, TRACK.scale.vocab_size


def load_variant(name: str) -> ModuleType:
    """records/<name>/train_gpt.py as a module (main() not run); shared with tests/records."""
    module_name = "record_" + name.replace("-", "_")
    if module_name not in sys.modules:
        spec = importlib.util.spec_from_file_location(
            module_name, ROOT / "records" / name / "train_gpt.py"
        )
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[module_name] = module  # dataclasses look their module up while being built
        spec.loader.exec_module(module)
    return sys.modules[module_name]


def seed_recipe_model() -> Any:
    sr = load_variant("seed-recipe")
    sc = TRACK.scale
    eos = TRACK.dataset.eos_token
    cfg = sr.GPTConfig(V, sc.n_layer, sc.n_head, sc.n_embd, eos_token=eos, window=sc.seq_len)
    model = sr.GPT(cfg)
    for m in model.modules():  # the zero-initialised projections get weights: every path counts
        if isinstance(m, sr.CastedLinear):
            torch.nn.init.normal_(m.weight, std=0.2)
    return model


def llmc_model() -> Any:
    bl = load_variant("llmc-baseline")
    sc = TRACK.scale
    return bl.GPT(bl.GPTConfig(V, sc.n_layer, sc.n_head, sc.n_embd, max(sc.seq_len, T)))


@pytest.fixture(scope="module", params=["seed-recipe", "llmc-baseline"])
def exported(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> tuple[Any, Path]:
    """(model, archive) exported as speedrun.harness.export_model does."""
    torch.manual_seed(0)
    model = seed_recipe_model() if request.param == "seed-recipe" else llmc_model()
    model.eval()
    with torch.no_grad():
        program = torch.export.export(model, (torch.randint(0, V, (B, T)),))
    path = tmp_path_factory.mktemp(request.param) / "model.pt2"
    torch.export.save(program, str(path))
    return model, path


def val_slice(data_dir: Path) -> Path:
    return data_dir / TRACK.dataset.name / TRACK.dataset.val_file.name


def test_reference_exports_pass_the_archive_check(exported: tuple[Any, Path]) -> None:
    _, path = exported
    summary = pt2check.sanitize_archive(path, path.with_name("copy.pt2"))
    assert summary.input == pt2check.TensorSpec("int64", (B, T))
    assert summary.output == pt2check.TensorSpec("float32", (B, T, V))
    assert "torch.ops.aten.scaled_dot_product_attention.default" in summary.targets


def test_reference_models_are_evaluated_and_found_causal(
    exported: tuple[Any, Path], smoke_data_dir: Path
) -> None:
    model, path = exported
    n = TRACK.dataset.val_tokens
    result = ev.evaluate(str(path), str(val_slice(smoke_data_dir)), T, B, n, V)
    c = result["causality"]
    assert result["ok"] and c["passed"] and c["max_abs_diff"] <= c["tolerance"] == 1e-4
    tokens = torch.from_numpy(
        np.asarray(read_shard(val_slice(smoke_data_dir)))[: n + 1].astype("int64")
    )
    with torch.no_grad():
        x, y = tokens[:n].view(-1, T), tokens[1 : n + 1].view(-1, T)
        losses = [
            torch.nn.functional.cross_entropy(
                model(x[i : i + B]).flatten(0, 1), y[i : i + B].flatten()
            )
            for i in range(0, len(x), B)
        ]
    assert result["val_loss"] == pytest.approx(float(torch.stack(losses).mean()), rel=1e-4)
