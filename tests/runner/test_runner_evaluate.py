"""The independent evaluator: the loss it computes, and the models it refuses."""

from __future__ import annotations

import json
import pickle
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from runner import evaluate as ev
from speedrun.shards import write_shard

torch = pytest.importorskip("torch")
nn, F = torch.nn, torch.nn.functional

V, T, B, N_TOKENS = 64, 16, 4, 16 * 10  # 10 windows: 3 batches, the last one padded


class Causal(nn.Module):
    """Embedding + one causal attention layer + head: a small honest language model."""

    def __init__(self, causal: bool = True) -> None:
        super().__init__()
        self.causal = causal
        self.emb = nn.Embedding(V, 16)
        self.qkv = nn.Linear(16, 48)
        self.head = nn.Linear(16, V)

    def forward(self, idx: Any) -> Any:
        q, k, v = self.qkv(self.emb(idx)).split(16, dim=2)
        y = F.scaled_dot_product_attention(q, k, v, is_causal=self.causal)
        return self.head(y)


class BatchMixer(Causal):
    def forward(self, idx: Any) -> Any:
        out = super().forward(idx)
        return out + out.mean(dim=0, keepdim=True)  # every sequence sees the others


class MutatesBuffer(Causal):
    def __init__(self) -> None:
        super().__init__()
        self.register_buffer("calls", torch.zeros(1))

    def forward(self, idx: Any) -> Any:
        self.calls.add_(1)
        return super().forward(idx)


def export(model: Any, path: Path) -> Path:
    torch.manual_seed(0)
    model.eval()
    program = torch.export.export(model, (torch.zeros(B, T, dtype=torch.int64),))
    torch.export.save(program, str(path))
    return path


@pytest.fixture
def tokens(tmp_path: Path) -> Path:
    rng = np.random.default_rng(0)
    path = tmp_path / "val_slice.bin"
    write_shard(path, rng.integers(0, V, N_TOKENS + 1))
    return path


def test_loss_is_the_mean_over_windows_of_the_slice(tmp_path: Path, tokens: Path) -> None:
    torch.manual_seed(0)
    model = Causal()
    result = ev.evaluate(str(export(model, tmp_path / "m.pt2")), str(tokens), T, B, N_TOKENS)
    data = torch.from_numpy(np.fromfile(tokens, dtype="<u2", offset=1024).astype("int64"))
    losses = []
    with torch.no_grad():
        for k in range(N_TOKENS // T):
            x, y = data[k * T : (k + 1) * T], data[k * T + 1 : (k + 1) * T + 1]
            losses.append(F.cross_entropy(model(x[None])[0], y, reduction="sum"))
    assert result["ok"] and result["windows"] == 10 and result["tokens_scored"] == N_TOKENS
    assert result["val_loss"] == pytest.approx(float(sum(losses)) / N_TOKENS, rel=1e-5)
    assert result["causality"]["passed"]
    assert "aten.scaled_dot_product_attention.default" in result["ops"]


@pytest.mark.parametrize(
    ("model", "reason"),
    [
        (Causal(causal=False), "not causal"),
        (BatchMixer(), "sequences of a batch influence each other"),
        (MutatesBuffer(), "mutates buffers"),
    ],
    ids=["looks-ahead", "mixes-batch", "mutates-buffer"],
)
def test_cheating_models_are_refused(tmp_path: Path, tokens: Path, model: Any, reason: str) -> None:
    path = export(model, tmp_path / "m.pt2")
    with pytest.raises(ev.RefusedError, match=reason):
        ev.evaluate(str(path), str(tokens), T, B, N_TOKENS)


def test_io_and_custom_operators_are_refused(tmp_path: Path) -> None:
    program = torch.export.export(Causal().eval(), (torch.zeros(B, T, dtype=torch.int64),))
    graph = program.graph_module.graph
    output = next(n for n in graph.nodes if n.op == "output")
    with graph.inserting_before(output):
        graph.call_function(
            torch.ops.aten.from_file.default,
            ("/etc/passwd",),
            {"shared": False, "size": 8, "dtype": torch.float32},
        )
    with pytest.raises(ev.RefusedError, match="I/O operator aten::from_file"):
        ev.check_program(program)

    @torch.library.custom_op("speedrun_test::peek", mutates_args=(), schema="(Tensor x) -> Tensor")
    def peek(x: Any) -> Any:
        return x.clone()

    peek.register_fake(lambda x: torch.empty_like(x))

    class UsesCustomOp(Causal):
        def forward(self, idx: Any) -> Any:
            return peek(super().forward(idx))

    program = torch.export.export(UsesCustomOp().eval(), (torch.zeros(B, T, dtype=torch.int64),))
    with pytest.raises(ev.RefusedError, match="non-ATen operator speedrun_test::peek"):
        ev.check_program(program)


class Payload:
    """Unpickling this runs a shell command."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[Any, ...]:
        import os

        return (os.system, (f"touch {self.marker}",))


def poisoned_archive(good: Path, evil: Path, member: str, payload: bytes) -> None:
    with zipfile.ZipFile(good) as src, zipfile.ZipFile(evil, "w") as dst:
        for info in src.infolist():
            data = src.read(info.filename)
            if member == "weights" and info.filename.endswith("model_weights_config.json"):
                config = json.loads(data)
                for entry in config["config"].values():
                    entry["use_pickle"] = True
                data = json.dumps(config).encode()
            elif (member == "weights" and "/data/weights/weight_" in info.filename) or (
                member == "sample_inputs" and info.filename.endswith("sample_inputs/model.pt")
            ):
                data = payload
            dst.writestr(info, data)


@pytest.mark.parametrize("member", ["weights", "sample_inputs"])
def test_pickled_code_in_the_archive_never_runs(tmp_path: Path, tokens: Path, member: str) -> None:
    marker = tmp_path / "pwned"
    good = export(Causal(), tmp_path / "good.pt2")
    evil = tmp_path / "evil.pt2"
    poisoned_archive(good, evil, member, pickle.dumps(Payload(marker)))
    if member == "weights":  # the attack is real: a plain torch.export.load runs it
        with pytest.raises(Exception):  # noqa: B017 (whatever it fails with afterwards)
            torch.export.load(str(evil))
        assert marker.exists()
        marker.unlink()
    with pytest.raises(ev.RefusedError):
        ev.evaluate(str(evil), str(tokens), T, B, N_TOKENS)
    assert not marker.exists()


def test_main_writes_the_result_and_exits_3_on_refusal(tmp_path: Path, tokens: Path) -> None:
    out = tmp_path / "result.json"
    args = ["--tokens", str(tokens), "--seq-len", str(T), "--batch-seqs", str(B)]
    args += ["--val-tokens", str(N_TOKENS), "--out", str(out)]
    good = export(Causal(), tmp_path / "good.pt2")
    assert ev.main(["--model", str(good), *args]) == 0
    assert json.loads(out.read_text())["ok"] is True
    bad = export(Causal(causal=False), tmp_path / "bad.pt2")
    assert ev.main(["--model", str(bad), *args]) == ev.EXIT_REFUSED
    assert "not causal" in json.loads(out.read_text())["refused"]
