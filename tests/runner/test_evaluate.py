"""The independent evaluator: the loss it computes, the probes it plans, and the hostile models
it refuses (look-ahead everywhere, at 2% of positions chosen by content, everywhere but where
the old probe looked; the extreme-logit trick; batch mixers; randomness)."""

from __future__ import annotations

import json
import math
import pickle
import random
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from runner import evaluate as ev
from speedrun.data.shards import write_shard

torch = pytest.importorskip("torch")
nn, F = torch.nn, torch.nn.functional

V, T, B, N_TOKENS = 100, 16, 8, 16 * 10  # 10 windows: 2 batches, the last one padded
NEVER = V - 1  # a token the slice never holds: the column of the extreme-logit trick


class Causal(nn.Module):
    """Embedding + one causal attention layer + head: a small honest language model."""

    def __init__(self, causal: bool = True, width: int = V) -> None:
        super().__init__()
        self.causal = causal
        self.emb = nn.Embedding(V, 16)
        self.qkv = nn.Linear(16, 48)
        self.head = nn.Linear(16, width)

    def forward(self, idx: Any) -> Any:
        q, k, v = self.qkv(self.emb(idx)).split(16, dim=2)
        y = F.scaled_dot_product_attention(q, k, v, is_causal=self.causal)
        return self.head(y)


class LookAhead(Causal):
    """Honest logits plus 10 on the next input token, i.e. on position p's target, wherever
    `leaks` says; an untrained model gains nats from it."""

    def leaks(self, idx: Any) -> Any:
        return torch.ones_like(idx, dtype=torch.bool)

    def forward(self, idx: Any) -> Any:
        out = super().forward(idx)
        peek = F.one_hot(torch.roll(idx, -1, dims=1), out.size(-1)).float() * 10
        return out + peek * self.leaks(idx).unsqueeze(-1)


class LeaksByContent(LookAhead):
    def leaks(self, idx: Any) -> Any:
        return idx % 50 == 7  # ~2% of positions, chosen by the model from its input


class LeaksOffOldProbes(LookAhead):
    def leaks(self, idx: Any) -> Any:  # honest exactly where the old probe cut: 64, 128, 192
        positions = torch.arange(idx.size(1))
        return ((positions != 64) & (positions != 128) & (positions != 192)).expand_as(idx)


class ExtremeColumn(Causal):
    """A huge constant logit in a column no target ever uses: every other log-prob drops by as
    much, and the old probe's tolerance (1e-4 x max|logit|) rose to 100 nats."""

    def __init__(self, width: int = V, leak: bool = False) -> None:
        super().__init__(width=width)
        self.leak = leak
        self.register_buffer("extreme", torch.zeros(width), persistent=False)
        self.extreme[-1] = 1e6

    def forward(self, idx: Any) -> Any:
        out = super().forward(idx)
        if self.leak:
            out = out + F.one_hot(torch.roll(idx, -1, dims=1), out.size(-1)).float() * 10
        return out + self.extreme


class BatchMixer(Causal):
    def forward(self, idx: Any) -> Any:
        out = super().forward(idx)
        return out + out.mean(dim=0, keepdim=True)  # every sequence sees the others


class NextRowPeek(Causal):
    """At its last position only, reads the next row's first token: in a scored batch of
    consecutive windows that is exactly the last target."""

    def forward(self, idx: Any) -> Any:
        out = super().forward(idx)
        peek = F.one_hot(torch.roll(idx[:, 0], -1, dims=0), V).float() * 10  # (B, V)
        last = (torch.arange(idx.size(1)) == idx.size(1) - 1).float()  # (T,)
        return out + peek[:, None, :] * last[None, :, None]


class Noisy(Causal):
    def forward(self, idx: Any) -> Any:
        out = super().forward(idx)
        return out + 1e-2 * torch.rand_like(out)


class MutatesBuffer(Causal):
    def __init__(self) -> None:
        super().__init__()
        self.register_buffer("calls", torch.zeros(1))

    def forward(self, idx: Any) -> Any:
        self.calls.add_(1)
        return super().forward(idx)


def export(model: Any, path: Path, seq_len: int = T) -> Path:
    torch.manual_seed(0)
    model.eval()
    program = torch.export.export(model, (torch.zeros(B, seq_len, dtype=torch.int64),))
    torch.export.save(program, str(path))
    return path


def write_tokens(path: Path, n_tokens: int) -> Path:
    rng = np.random.default_rng(0)
    write_shard(path, rng.integers(0, NEVER, n_tokens + 1))  # never the token NEVER
    return path


@pytest.fixture(autouse=True)
def one_thread() -> Iterator[None]:
    """Tiny models run faster on one thread, and the probes make ~90 calls per evaluation."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture
def tokens(tmp_path: Path) -> Path:
    return write_tokens(tmp_path / "val_slice.bin", N_TOKENS)


def evaluate(model_path: Path, tokens: Path, seq_len: int = T) -> dict[str, Any]:
    n_tokens = seq_len * 10
    return ev.evaluate(str(model_path), str(tokens), seq_len, B, n_tokens, V)


def test_loss_is_the_mean_over_windows_of_the_slice(tmp_path: Path, tokens: Path) -> None:
    torch.manual_seed(0)
    model = Causal()
    result = evaluate(export(model, tmp_path / "m.pt2"), tokens)
    data = torch.from_numpy(np.fromfile(tokens, dtype="<u2", offset=1024).astype("int64"))
    losses = []
    with torch.no_grad():
        for k in range(N_TOKENS // T):
            x, y = data[k * T : (k + 1) * T], data[k * T + 1 : (k + 1) * T + 1]
            losses.append(F.cross_entropy(model(x[None])[0], y, reduction="sum"))
    assert result["ok"] and result["windows"] == 10 and result["tokens_scored"] == N_TOKENS
    assert result["val_loss"] == pytest.approx(float(sum(losses)) / N_TOKENS, rel=1e-5)
    assert result["vocab_size"] == V
    assert "aten.scaled_dot_product_attention.default" in result["ops"]
    c = result["causality"]
    assert c["passed"] and c["probes"] == ev.PROBES == 688 and c["dtype"] == "float32"
    assert c["batches"] == math.ceil((688 + ev.MIN_UNCHANGED_ROWS) / B) and c["repeat_batches"] == 1
    assert c["rows"] == c["batches"] * B and c["unchanged_rows"] >= c["rows"] - 688
    assert c["miss_probability"] == pytest.approx(0.99**688) and c["miss_probability"] < 1e-3
    assert c["tolerance"] == 1e-4 and 0 <= c["max_abs_diff"] <= c["tolerance"]
    assert c["seconds"] > 0


def test_a_held_out_slice_is_scored_and_probed_the_same_way(tmp_path: Path, tokens: Path) -> None:
    held = tmp_path / "private.bin"
    write_shard(held, np.random.default_rng(5).integers(0, NEVER, 6 * T + 1))
    path = export(Causal(), tmp_path / "m.pt2")
    result = ev.evaluate(str(path), str(tokens), T, B, N_TOKENS, V, private=(str(held), 6 * T))
    alone = ev.evaluate(str(path), str(held), T, B, 6 * T, V)
    assert result["private_val_loss"] == pytest.approx(alone["val_loss"], rel=1e-6)
    assert result["private_tokens_scored"] == 6 * T and "private_causality" not in result
    with pytest.raises(ev.RefusedError, match="not causal"):  # a leak shows there too
        ev.evaluate(str(export(LookAhead(), tmp_path / "l.pt2")), str(held), T, B, 6 * T, V)


def test_probe_plan_covers_windows_and_positions_uniformly() -> None:
    T_, B_, n = 256, 64, 1024  # cpu-tiny: 262,144 tokens
    tokens = np.random.default_rng(1).integers(0, 256, n * T_ + 1)
    shape = ev.Shape(T_, B_, 256, n)
    plan = ev.plan_probes(tokens, shape, random.Random(7))
    rows = [row for batch in plan.batches for row in batch]
    assert len(plan.batches) == 11 and all(len(b) == B_ for b in plan.batches)  # 12 forwards
    assert plan.sampled == 688 and sum(r.cut == T_ - 1 for r in rows) >= 16
    assert all(len({r.window for r in b}) == B_ for b in plan.batches)  # no window twice
    assert 0 <= plan.repeat_batch < 16
    for r in rows:
        if r.cut < T_ - 1:  # real tokens of another window, differing right after the cut
            assert r.donor != r.window
            assert tokens[r.donor * T_ + r.cut + 1] != tokens[r.window * T_ + r.cut + 1]
    cuts = [r.cut for r in rows[:688]]
    assert min(cuts) < 16 and max(cuts) > T_ - 16 and 100 < np.mean(cuts) < 155
    assert len({r.window // B_ for r in plan.batches[0]}) > 8  # mixes many scored batches


def test_honest_model_with_an_extreme_constant_column_is_accepted(
    tmp_path: Path, tokens: Path
) -> None:
    result = evaluate(export(ExtremeColumn(), tmp_path / "m.pt2"), tokens)
    assert result["ok"] and result["val_loss"] > 1e5  # it pays for the trick
    assert result["causality"]["max_abs_diff"] <= 1e-4


@pytest.mark.parametrize(
    ("model", "reason"),
    [
        (Causal(causal=False), "not causal"),
        (LookAhead(), "not causal"),
        (ExtremeColumn(leak=True), "not causal"),
        (BatchMixer(), "rows of a batch influence each other"),
        (NextRowPeek(), "rows of a batch influence each other"),
        (Noisy(), "non-deterministic"),
        (MutatesBuffer(), "mutates buffers"),
        (Causal(width=V + 1), r"\(B, T, V\) = \(8, 16, 100\)"),
    ],
    ids=[
        "attends-ahead",
        "reads-next-token",
        "extreme-column-and-leak",
        "mixes-batch",
        "peeks-next-row",
        "random",
        "mutates-buffer",
        "too-wide",
    ],
)
def test_cheating_models_are_refused(tmp_path: Path, tokens: Path, model: Any, reason: str) -> None:
    path = export(model, tmp_path / "m.pt2")
    with pytest.raises(ev.RefusedError, match=reason):
        evaluate(path, tokens)


def test_leak_at_two_percent_of_positions_chosen_by_content_is_always_refused(
    tmp_path: Path, tokens: Path
) -> None:
    data = np.fromfile(tokens, dtype="<u2", offset=1024)[:N_TOKENS]
    assert 0.01 < np.mean(data % 50 == 7) < 0.04  # the positions where it leaks exist
    path = export(LeaksByContent(), tmp_path / "m.pt2")
    for _ in range(3):  # fresh secret probes every time
        with pytest.raises(ev.RefusedError, match="not causal"):
            evaluate(path, tokens)


def old_probe_passes(module: Any, x: Any) -> bool:
    """The probe this evaluator replaced: cuts at T/4, T/2, 3T/4 of the first batch, uniform
    random later tokens, logits compared with a tolerance of 1e-4 x max|logit|."""
    with torch.no_grad():
        logits = module(x)
        tol = 1e-4 * max(1.0, float(logits.abs().max()))
        gen = torch.Generator().manual_seed(1234)
        for fraction in (0.25, 0.5, 0.75):
            k = int(x.size(1) * fraction)
            changed = x.clone()
            changed[:, k + 1 :] = torch.randint(0, V, changed[:, k + 1 :].shape, generator=gen)
            if float((module(changed)[:, : k + 1] - logits[:, : k + 1]).abs().max()) > tol:
                return False
    return True


def test_leak_everywhere_but_at_the_old_probe_positions_is_refused(tmp_path: Path) -> None:
    tokens = write_tokens(tmp_path / "val.bin", 256 * 10)
    model = LeaksOffOldProbes()
    path = export(model, tmp_path / "m.pt2", seq_len=256)
    first = torch.from_numpy(
        np.fromfile(tokens, dtype="<u2", offset=1024)[: B * 256].astype("int64")
    )
    assert old_probe_passes(model, first.view(B, 256))
    with pytest.raises(ev.RefusedError, match="not causal"):
        evaluate(path, tokens, seq_len=256)


def test_extreme_column_beyond_the_vocabulary_is_refused_by_width(
    tmp_path: Path, tokens: Path
) -> None:
    model = ExtremeColumn(width=V + 1, leak=True)
    first = torch.from_numpy(np.fromfile(tokens, dtype="<u2", offset=1024)[: B * T].astype("int64"))
    torch.manual_seed(0)
    assert old_probe_passes(model.eval(), first.view(B, T))  # the trick fooled the old probe
    with pytest.raises(ev.RefusedError, match=r"\(B, T, V\) = \(8, 16, 100\)"):
        evaluate(export(model, tmp_path / "m.pt2"), tokens)


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


@pytest.mark.parametrize(
    "target",
    ["torch.ops.aten.name.upper", "torch.ops.aten.no_such_op.default", "torch.ops.aten.add.nope"],
)
def test_targets_resolve_to_registered_aten_overloads(target: str) -> None:
    ev.check_targets({"torch.ops.aten.add.Tensor"})
    with pytest.raises(ev.RefusedError, match="not a registered ATen operator"):
        ev.check_targets({target})


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
        with pytest.raises(ev.RefusedError, match="pickled"):
            evaluate(evil, tokens)
    else:  # the submitted sample inputs are dropped unread: torch loads an empty member
        assert evaluate(evil, tokens)["ok"]
    assert not marker.exists()


def test_main_writes_the_result_and_exits_3_on_refusal(tmp_path: Path, tokens: Path) -> None:
    out = tmp_path / "result.json"
    args = ["--tokens", str(tokens), "--seq-len", str(T), "--batch-seqs", str(B)]
    args += ["--val-tokens", str(N_TOKENS), "--vocab-size", str(V), "--out", str(out)]
    good = export(Causal(), tmp_path / "good.pt2")
    assert ev.main(["--model", str(good), *args]) == 0
    result = json.loads(out.read_text())
    assert result["ok"] is True and result["causality"]["probes"] == 688
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".evaluate-")] == []
    bad = export(Causal(causal=False), tmp_path / "bad.pt2")
    assert ev.main(["--model", str(bad), *args]) == ev.EXIT_REFUSED
    assert "not causal" in json.loads(out.read_text())["refused"]
    with pytest.raises(SystemExit):  # --vocab-size is required
        ev.main(["--model", str(good), *args[:-4], "--out", str(out)])
