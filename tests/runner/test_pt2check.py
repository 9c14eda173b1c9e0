"""runner.pt2check: hostile archives, crafted from a real export of a tiny model, each refused
before torch parses anything; where the attack runs code under a plain `torch.export.load`, the
test shows that first, then that neither the check nor the real evaluator CLI runs it."""

from __future__ import annotations

import contextlib
import json
import os
import pickle
import subprocess
import sys
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from runner import pt2check
from runner.pt2check import RefusedError
from speedrun.data.shards import write_shard

torch = pytest.importorskip("torch")
nn, F = torch.nn, torch.nn.functional

V, T, B = 64, 16, 4
ROOT = Path(__file__).resolve().parents[2]
Doc = dict[str, Any]


class Tiny(nn.Module):
    """Embedding, causal attention through a constant mask (a constant member), a head; and a
    `torch.no_grad()` block, which export keeps as a higher-order operator with a subgraph."""

    def __init__(self) -> None:
        super().__init__()
        self.emb = nn.Embedding(V, 16)
        self.head = nn.Linear(16, V)
        self.register_buffer("mask", torch.ones(T, T, dtype=torch.bool).tril(), persistent=False)

    def forward(self, idx: Any) -> Any:
        x = self.emb(idx)
        with torch.no_grad():
            x = x * 2 + 1
        return self.head(F.scaled_dot_product_attention(x, x, x, attn_mask=self.mask))


@pytest.fixture(scope="module")
def good(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("pt2") / "good.pt2"
    torch.manual_seed(0)
    program = torch.export.export(Tiny().eval(), (torch.zeros(B, T, dtype=torch.int64),))
    torch.export.save(program, str(path))
    return path


def craft(
    good: Path,
    evil: Path,
    edit: Callable[[Doc], None] | None = None,
    *,
    member: str = "models/model.json",
    data: bytes | None = None,
) -> Path:
    """A copy of `good` with `edit` applied to the JSON member `member` (or its bytes replaced
    by `data`; a member not in `good` is added)."""
    with zipfile.ZipFile(good) as src, zipfile.ZipFile(evil, "w") as dst:
        root = src.infolist()[0].filename.split("/")[0]
        for info in src.infolist():
            content = src.read(info)
            if info.filename == f"{root}/{member}":
                if edit is not None:
                    doc = json.loads(content)
                    edit(doc)
                    content = json.dumps(doc).encode()
                content = data if data is not None else content
            dst.writestr(info, content)
        if f"{root}/{member}" not in src.namelist():
            dst.writestr(f"{root}/{member}", data or b"")
    return evil


def graph(doc: Doc) -> Doc:
    return doc["graph_module"]["graph"]  # type: ignore[no-any-return]


def first_node(doc: Doc, target: str) -> Doc:
    return next(n for n in graph(doc)["nodes"] if n["target"] == target)  # type: ignore[no-any-return]


def shell(marker: Path) -> str:
    return f"__import__('os').system('touch {marker}')"


def sympy_code(marker: Path) -> Callable[[Doc], None]:
    """A size that sympify evaluates: the expression string is Python."""

    def edit(doc: Doc) -> None:
        expr = {"as_expr": {"expr_str": f"{shell(marker)} or 16", "hint": {"as_int": 16}}}
        graph(doc)["tensor_values"]["embedding"]["sizes"][1] = expr

    return edit


def name_code(marker: Path) -> Callable[[Doc], None]:
    """A value name that becomes a parameter (with a default) of generated Python source."""

    def edit(doc: Doc) -> None:
        text = json.dumps(doc).replace('"embedding"', json.dumps(f"embedding={shell(marker)}"))
        doc.clear()
        doc.update(json.loads(text))

    return edit


def sanitize(path: Path, **kwargs: Any) -> pt2check.ArchiveSummary:
    return pt2check.sanitize_archive(path, path.with_suffix(".copy.pt2"), **kwargs)


def test_an_honest_export_passes_and_its_copy_loads_the_same(good: Path, tmp_path: Path) -> None:
    copy = tmp_path / "copy.pt2"
    summary = pt2check.sanitize_archive(good, copy)
    assert summary.input == pt2check.TensorSpec("int64", (B, T))
    assert summary.output == pt2check.TensorSpec("float32", (B, T, V))
    assert "torch.ops.higher_order.wrap_with_set_grad_enabled" in summary.targets
    assert "torch.ops.aten.scaled_dot_product_attention.default" in summary.targets
    with zipfile.ZipFile(copy) as zf:
        assert zf.read("model/data/sample_inputs/model.pt") == b""  # never the submitted pickle
        assert b"stack_trace" not in zf.read("model/models/model.json")
        assert all(i.compress_type == zipfile.ZIP_STORED for i in zf.infolist())
    x = torch.randint(0, V, (B, T))
    with torch.no_grad():
        expected = torch.export.load(str(good)).module()(x)
        assert torch.equal(torch.export.load(str(copy)).module()(x), expected)


@pytest.mark.parametrize("attack", [sympy_code, name_code], ids=["sympy-size", "value-name"])
def test_code_in_the_json_never_runs(good: Path, tmp_path: Path, attack: Any) -> None:
    marker = tmp_path / "pwned"
    evil = craft(good, tmp_path / "evil.pt2", attack(marker))
    with contextlib.suppress(Exception):  # the attack is real: plain loading runs it
        torch.export.load(str(evil)).module()(torch.zeros(B, T, dtype=torch.int64))
    assert marker.exists()
    marker.unlink()
    with pytest.raises(RefusedError, match=r"symbolic size|not a plain identifier"):
        sanitize(evil)
    assert not marker.exists()


def edit(path: list[Any], value: Any) -> Callable[[Doc], None]:
    """Set doc[path[0]][path[1]]... = value; str steps into dicts, int into lists."""

    def apply(doc: Doc) -> None:
        node: Any = doc
        for step in path[:-1]:
            node = node[step]
        node[path[-1]] = value

    return apply


def in_first(target: str, change: Callable[[Doc], None]) -> Callable[[Doc], None]:
    return lambda doc: change(first_node(doc, target))


GM, G = ["graph_module"], ["graph_module", "graph"]
LINEAR, HOP = "torch.ops.aten.linear.default", "torch.ops.higher_order.wrap_with_set_grad_enabled"
SYM = {"as_expr": {"expr_str": "s0", "hint": {"as_int": 16}}}
HOSTILE_JSON = {
    "guards-code": (edit(["guards_code"], ["import os"]), "guards_code must be empty"),
    "range-constraints": (
        edit(["range_constraints"], {"s0": {"min_val": 2, "max_val": 9}}),
        "range_constraints must be empty",
    ),
    "sym-int-values": (edit([*G, "sym_int_values"], {"s0": SYM}), "sym_int_values must be empty"),
    "symbolic-stride": (
        edit([*G, "tensor_values", "embedding", "strides", 0], SYM),
        "symbolic size",
    ),
    "symbolic-offset": (
        edit([*G, "tensor_values", "embedding", "storage_offset"], SYM),
        "symbolic size",
    ),
    "custom-obj-values": (
        edit(
            [*G, "custom_obj_values"],
            {"obj": {"name": "obj", "class_fqn": "__torch__.torch.classes.x"}},
        ),
        "custom_obj_values must be empty",
    ),
    "custom-obj-arg": (
        in_first(
            LINEAR, edit(["inputs", 2, "arg"], {"as_custom_obj": {"name": "obj", "class_fqn": "x"}})
        ),
        "argument kind 'as_custom_obj'",
    ),
    "sym-int-arg": (
        in_first(LINEAR, edit(["inputs", 2, "arg"], {"as_sym_int": {"as_name": "s0"}})),
        "argument kind 'as_sym_int'",
    ),
    "operator-arg": (
        in_first(LINEAR, edit(["inputs", 2, "arg"], {"as_operator": "torch.load"})),
        "argument kind 'as_operator'",
    ),
    "graph-arg-to-aten": (
        in_first(LINEAR, edit(["inputs", 2, "arg"], {"as_graph": {"name": "g", "graph": {}}})),
        "argument kind 'as_graph'",
    ),
    "custom-namespace": (
        in_first(LINEAR, edit(["target"], "torch.ops.speedrun_test.peek.default")),
        "not an ATen operator",
    ),
    "python-target": (in_first(LINEAR, edit(["target"], "torch.load")), "not an ATen operator"),
    "operator-module": (
        in_first(LINEAR, edit(["target"], "_operator.add")),
        "not an ATen operator",
    ),
    "dunder-walk": (
        in_first(LINEAR, edit(["target"], "torch.ops.aten.__class__.mro")),
        "not an ATen operator overload",
    ),
    "io-operator": (
        in_first(LINEAR, edit(["target"], "torch.ops.aten.from_file.default")),
        "I/O operator aten::from_file",
    ),
    "other-hop": (
        in_first(HOP, edit(["target"], "torch.ops.higher_order.cond")),
        "higher-order operator cond",
    ),
    "nested-custom-op": (
        in_first(
            HOP,
            edit(
                ["inputs", 1, "arg", "as_graph", "graph", "nodes", 0, "target"],
                "torch.ops.evil.x.default",
            ),
        ),
        "not an ATen operator",
    ),
    "nested-sympy": (
        in_first(
            HOP, edit(["inputs", 1, "arg", "as_graph", "graph", "sym_int_values"], {"s0": SYM})
        ),
        "sym_int_values must be empty",
    ),
    "dunder-parameter": (
        edit([*GM, "signature", "input_specs", 0, "parameter", "parameter_name"], "emb.__class__"),
        "not a dotted name",
    ),
    "custom-obj-input": (
        edit(
            [*GM, "signature", "input_specs", 0],
            {"custom_obj": {"arg": {"name": "o", "class_fqn": "x"}, "custom_obj_name": "o"}},
        ),
        "input kind 'custom_obj'",
    ),
    "buffer-mutation": (
        lambda doc: doc["graph_module"]["signature"]["output_specs"].append(
            {"buffer_mutation": {"arg": {"name": "linear"}, "buffer_name": "mask"}}
        ),
        "output kind 'buffer_mutation'",
    ),
    "pytree-type": (
        edit(
            [*GM, "module_call_graph", 0, "signature", "out_spec"],
            '[1, {"type": "collections.OrderedDict", "context": "[]", "children_spec": []}]',
        ),
        "out_spec",
    ),
    "namedtuple-fields": (
        edit([*GM, "treespec_namedtuple_fields"], {"x": {"field_names": ["a"]}}),
        "treespec_namedtuple_fields must be empty",
    ),
    "unknown-field": (in_first(LINEAR, edit(["extra"], 1)), "unexpected or missing fields"),
    "sparse-layout": (edit([*G, "tensor_values", "embedding", "layout"], 1), "layout"),
    "odd-device": (
        edit([*G, "tensor_values", "embedding", "device", "type"], "meta"),
        "device 'meta'",
    ),
    "verifier": (edit(["verifiers"], ["builtins.eval"]), "verifier"),
}


@pytest.mark.parametrize("case", HOSTILE_JSON, ids=list(HOSTILE_JSON))
def test_hostile_model_json_is_refused(good: Path, tmp_path: Path, case: str) -> None:
    change, reason = HOSTILE_JSON[case]
    with pytest.raises(RefusedError, match=reason):
        sanitize(craft(good, tmp_path / "evil.pt2", change))


class Payload:
    """Unpickling this runs a shell command."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[Any, ...]:
        return (os.system, (f"touch {self.marker}",))


def test_pickled_weights_are_refused_unread(good: Path, tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    evil = craft(
        good,
        tmp_path / "a.pt2",
        edit(["config", "emb.weight", "use_pickle"], True),
        member="data/weights/model_weights_config.json",
    )
    evil = craft(
        evil,
        tmp_path / "evil.pt2",
        member="data/weights/weight_0",
        data=pickle.dumps(Payload(marker)),
    )
    with pytest.raises(Exception):  # noqa: B017 (the attack is real)
        torch.export.load(str(evil))
    assert marker.exists()
    marker.unlink()
    with pytest.raises(RefusedError, match="pickled"):
        sanitize(evil)
    assert not marker.exists()


WEIGHTS, CONSTANTS = (
    "data/weights/model_weights_config.json",
    "data/constants/model_constants_config.json",
)
HOSTILE_PAYLOADS = {
    "offset-past-the-bytes": (
        WEIGHTS,
        edit(["config", "emb.weight", "tensor_meta", "storage_offset"], {"as_int": 10**6}),
        "reach past",
    ),
    "stride-past-the-bytes": (
        WEIGHTS,
        edit(["config", "emb.weight", "tensor_meta", "strides", 0], {"as_int": 10**6}),
        "reach past",
    ),
    "symbolic-weight": (
        WEIGHTS,
        edit(["config", "emb.weight", "tensor_meta", "sizes", 0], SYM),
        "symbolic size",
    ),
    "missing-member": (
        WEIGHTS,
        edit(["config", "emb.weight", "path_name"], "weight_99"),
        "not a raw weights member",
    ),
    "custom-object-constant": (
        CONSTANTS,
        edit(["config", "mask", "path_name"], "custom_obj_0"),
        "not a raw constants member",
    ),
    "no-tensor-meta": (
        CONSTANTS,
        edit(["config", "mask", "tensor_meta"], None),
        "expected an object",
    ),
}


@pytest.mark.parametrize("case", HOSTILE_PAYLOADS, ids=list(HOSTILE_PAYLOADS))
def test_hostile_payload_configs_are_refused(good: Path, tmp_path: Path, case: str) -> None:
    member, change, reason = HOSTILE_PAYLOADS[case]
    with pytest.raises(RefusedError, match=reason):
        sanitize(craft(good, tmp_path / "evil.pt2", change, member=member))


def rezip(good: Path, evil: Path, names: Callable[[str], str], extra: dict[str, bytes]) -> Path:
    with zipfile.ZipFile(good) as src, zipfile.ZipFile(evil, "w") as dst:
        for info in src.infolist():
            dst.writestr(names(info.filename), src.read(info))
        for name, data in extra.items():
            dst.writestr(name, data)
    return evil


def deflated(name: str, size: int) -> Callable[[Path, Path], Path]:
    def build(good: Path, evil: Path) -> Path:
        rezip(good, evil, lambda n: n, {})
        with zipfile.ZipFile(evil, "a") as zf:
            zf.writestr(zipfile.ZipInfo(name), b"\0" * size, compress_type=zipfile.ZIP_DEFLATED)
        return evil

    return build


def garbage(evil: Path) -> Path:
    evil.write_bytes(b"PK\x03\x04" + b"\0" * 100)
    return evil


HOSTILE_ZIPS: dict[str, tuple[Callable[[Path, Path], Path], str]] = {
    "parent-path": (
        lambda g, e: rezip(g, e, lambda n: n, {"good/../../evil.py": b"x"}),
        "unexpected archive member",
    ),
    "absolute-path": (
        lambda g, e: rezip(g, e, lambda n: n, {"/etc/evil": b"x"}),
        "unexpected archive member",
    ),
    "second-root": (
        lambda g, e: rezip(g, e, lambda n: n, {"other/archive_format": b"pt2"}),
        "unexpected archive member",
    ),
    "aotinductor-library": (
        lambda g, e: rezip(g, e, lambda n: n, {"good/data/aotinductor/model/x.so": b"\x7fELF"}),
        "unexpected archive member",
    ),
    "extra-file": (
        lambda g, e: rezip(g, e, lambda n: n, {"good/extra/notes.txt": b"x"}),
        "unexpected archive member",
    ),
    "legacy-pickled-weights": (
        lambda g, e: rezip(g, e, lambda n: n, {"good/data/weights/model.pt": b"x"}),
        "unexpected archive member",
    ),
    "duplicate-member": (
        lambda g, e: rezip(g, e, lambda n: n, {"good/data/weights/weight_0": b"x"}),
        "appears twice",
    ),
    "backslash-root": (
        lambda g, e: rezip(g, e, lambda n: n.replace("good/", "..\\good/"), {}),
        "unexpected archive member",
    ),
    "zip-bomb": (deflated("good/data/weights/weight_9", 64 << 20), "compressed"),
    "huge-json": (
        lambda g, e: craft(
            g, e, member="models/model.json", data=b" " * (pt2check.MAX_JSON_BYTES + 1)
        ),
        "larger than",
    ),
    "not-a-zip": (
        lambda g, e: craft(g, e, member="x", data=b"") and garbage(e),
        "not a readable zip",
    ),
    "deep-json": (
        lambda g, e: craft(g, e, member="models/model.json", data=b"[" * 200_000),
        "nested too deeply|not valid JSON",
    ),
    "repeated-key": (
        lambda g, e: craft(g, e, member="models/model.json", data=b'{"a": 1, "a": 2}'),
        "repeats a key",
    ),
    "archive-format": (
        lambda g, e: craft(g, e, member="archive_format", data=b"pt2\nimport os"),
        "archive_format holds",
    ),
}


@pytest.mark.filterwarnings("ignore:Duplicate name")
@pytest.mark.parametrize("case", HOSTILE_ZIPS, ids=list(HOSTILE_ZIPS))
def test_hostile_zip_containers_are_refused(good: Path, tmp_path: Path, case: str) -> None:
    build, reason = HOSTILE_ZIPS[case]
    with pytest.raises(RefusedError, match=reason):
        sanitize(build(good, tmp_path / "evil.pt2"))


def test_archive_size_is_bounded(good: Path) -> None:
    with pytest.raises(RefusedError, match="larger than 1000 bytes"):
        sanitize(good, max_bytes=1000)


def run_cli(model: Path, tmp_path: Path) -> tuple[int, dict[str, Any], str]:
    """`python -m runner.evaluate` on `model`, as the runner starts it; whether torch was
    imported when it returned comes back on stdout."""
    tokens = tmp_path / "val.bin"
    write_shard(tokens, np.random.default_rng(0).integers(0, V, 10 * T + 1))
    out = tmp_path / "result.json"
    args = ["--model", str(model), "--tokens", str(tokens), "--seq-len", str(T)]
    args += ["--batch-seqs", str(B), "--val-tokens", str(10 * T), "--vocab-size", str(V)]
    code = "import sys, runner.evaluate as ev; c = ev.main(sys.argv[1:]); "
    code += "print('torch' in sys.modules); sys.exit(c)"
    proc = subprocess.run(
        [sys.executable, "-c", code, *args, "--out", str(out)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    return proc.returncode, json.loads(out.read_text()), proc.stdout.strip()


@pytest.mark.parametrize("attack", ["sympy-size", "value-name", "pickled-weights"])
def test_the_evaluator_cli_refuses_before_importing_torch(
    good: Path, tmp_path: Path, attack: str
) -> None:
    marker = tmp_path / "pwned"
    if attack == "pickled-weights":
        evil = craft(
            good,
            tmp_path / "a.pt2",
            edit(["config", "emb.weight", "use_pickle"], True),
            member=WEIGHTS,
        )
        evil = craft(
            evil,
            tmp_path / "model.pt2",
            member="data/weights/weight_0",
            data=pickle.dumps(Payload(marker)),
        )
    else:
        evil = craft(
            good,
            tmp_path / "model.pt2",
            (sympy_code if attack == "sympy-size" else name_code)(marker),
        )
    code, result, torch_imported = run_cli(evil, tmp_path)
    assert code == 3 and result["ok"] is False and result["refused"]
    assert torch_imported == "False" and not marker.exists()


def test_the_evaluator_cli_accepts_the_honest_export(good: Path, tmp_path: Path) -> None:
    code, result, torch_imported = run_cli(good, tmp_path)
    assert code == 0 and result["ok"] and result["causality"]["passed"]
    assert torch_imported == "True"
