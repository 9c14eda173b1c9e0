"""Forward FLOPs per token of both reference recipes at cpu-tiny's scale, counted the way the
evaluator counts them (torch's FlopCounterMode over the sanitized, loaded exported program),
agree within 5% with the closed form, written out here:

    forward FLOPs per token = 2 N  +  2 d V  +  4 L T d

    2 N      every weight matrix of the blocks takes part in one multiply-add per token (2 FLOPs
             per weight): N = L x 12 d^2 (q, k, v and the output projection 4 d^2, the MLP
             d -> 4d -> d 8 d^2); training is 3x the forward, hence the familiar 6 N
    2 d V    the language-model head (tied to the embedding in llm.c's GPT-2, untied in the
             seed recipe: the same FLOPs either way)
    4 L T d  attention, per layer and token: QK^T over T keys (2 T d) and the weighted sum of
             T values (2 T d). Both recipes export scaled_dot_product_attention, whose kernel
             computes the full T x T scores whatever the mask (the seed recipe's document-causal
             window, llm.c's is_causal); a kernel that skipped the masked half would do
             2 L T d (Kaplan et al., arXiv:2001.08361, Table 1, count it causally so)

with L = n_layer, d = n_embd, T = the evaluation's seq_len, V = the padded vocabulary.
Embedding lookups, norms, activations, rotary and softmax are not counted (the MFU convention,
PaLM arXiv:2204.02311 Appendix B).
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from runner import evaluate as ev
from runner import flops, pt2check
from speedrun.tracks import get_track

torch = pytest.importorskip("torch")
pytestmark = pytest.mark.slow  # two exports and loads: ~20 s on 2 cores

ROOT = Path(__file__).resolve().parents[2]
TRACK = get_track("cpu-tiny")
SC = TRACK.scale
L, d, V = SC.n_layer, SC.n_embd, SC.vocab_size
# cpu-tiny's evaluation windows; 4 of them a batch, not its 64: per token, the count does not
# depend on the batch, and the seed recipe's dense (B, T, T) mask makes big batches slow here.
T, B = TRACK.evaluation.seq_len, 4


def closed_form() -> int:
    return 2 * (L * 12 * d * d) + 2 * d * V + 4 * L * T * d


def recipe(name: str) -> ModuleType:
    module_name = "flops_" + name.replace("-", "_")
    if module_name not in sys.modules:
        path = ROOT / "records" / name / "train_gpt.py"
        spec = importlib.util.spec_from_file_location(module_name, path)
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[module_name] = module
        spec.loader.exec_module(module)
    return sys.modules[module_name]


def model_of(name: str) -> Any:
    if name == "seed-recipe":
        sr = recipe(name)
        eos = TRACK.dataset.eos_token
        return sr.GPT(sr.GPTConfig(V, L, SC.n_head, d, eos_token=eos, window=SC.seq_len))
    bl = recipe(name)
    return bl.GPT(bl.GPTConfig(V, L, SC.n_head, d, max(SC.seq_len, T)))


def block_matrix_params(model: Any) -> int:
    """N, read off the model: 2-D weights outside the embeddings and the head."""
    skip = ("embed", "wte", "wpe", "lm_head")
    return sum(
        p.numel()
        for n, p in model.named_parameters()
        if p.dim() == 2 and not any(s in n for s in skip)
    )


@pytest.fixture(scope="module", params=["seed-recipe", "llmc-baseline"])
def exported(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Any:
    """(model, the program as the evaluator loads it: sanitized copy, checked targets)."""
    torch.manual_seed(0)
    model = model_of(request.param).eval()
    with torch.no_grad():
        program = torch.export.export(model, (torch.randint(0, V, (B, T)),))
    folder = tmp_path_factory.mktemp(request.param)
    torch.export.save(program, str(folder / "model.pt2"))
    summary = pt2check.sanitize_archive(folder / "model.pt2", folder / "copy.pt2")
    return model, ev.load_program(str(folder / "copy.pt2"), summary.targets)


def test_the_closed_form_counts_the_models_own_matrices(exported: Any) -> None:
    model, _ = exported
    assert block_matrix_params(model) == L * 12 * d * d


def test_counted_flops_per_token_agree_with_the_closed_form(exported: Any) -> None:
    _, program = exported
    tokens = torch.randint(0, V, (B, T))
    block = flops.forward_flops_block(program.module(), tokens)
    measured, expected = block["forward_flops_per_token"], closed_form()
    print(f"\nmeasured {measured:,.0f} FLOPs/token, closed form {expected:,}")
    assert measured == pytest.approx(expected, rel=0.05)
    assert block["flops_batch_tokens"] == B * T


def test_attention_is_counted_on_cpu(exported: Any) -> None:
    """torch's table lacks the CPU attention kernel; without the formula runner.flops adds,
    attention (a third of cpu-tiny's forward FLOPs) would be missed."""
    _, program = exported
    from torch.utils.flop_counter import FlopCounterMode

    with torch.no_grad(), FlopCounterMode(display=False) as plain:
        program.module()(torch.randint(0, V, (B, T)))
    with_attention = flops.forward_flops(program.module(), torch.randint(0, V, (B, T)))
    assert with_attention - plain.get_total_flops() == 4 * L * T * d * B * T
