"""runner.pt2graph: the program of a torch.export archive, checked against an allow-list before
torch reads it. A real export passes, summarised (aten targets, one int64 (B, T) tensor in,
one float tensor out); symbolic sizes, guards, foreign call targets, I/O operators, odd
verifiers, names that are not identifiers and extra tensors in or out are refused by name."""

from __future__ import annotations

import copy
import json
import zipfile
from typing import Any

import pytest

from runner.pt2fields import RefusedError
from runner.pt2graph import TensorSpec, check_program

torch = pytest.importorskip("torch")
pytestmark = pytest.mark.slow  # one torch.export for the module: a few seconds


@pytest.fixture(scope="module")
def program(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Embedding(16, 8), torch.nn.Linear(8, 16))
    path = tmp_path_factory.mktemp("export") / "model.pt2"
    torch.export.save(torch.export.export(model, (torch.zeros(2, 4, dtype=torch.long),)), str(path))
    with zipfile.ZipFile(path) as zf:
        [name] = [n for n in zf.namelist() if n.endswith("models/model.json")]
        doc: dict[str, Any] = json.loads(zf.read(name))
    return doc


def edited(program: dict[str, Any], edit: Any) -> dict[str, Any]:
    doc = copy.deepcopy(program)
    edit(doc)
    return doc


def test_a_real_export_passes_and_is_summarised(program: dict[str, Any]) -> None:
    doc = copy.deepcopy(program)
    doc["graph_module"]["metadata"] = {"custom": "json torch would load"}
    summary = check_program(doc)
    assert summary.targets == {"torch.ops.aten.embedding.default", "torch.ops.aten.linear.default"}
    assert summary.input == TensorSpec("int64", (2, 4))
    assert summary.output == TensorSpec("float32", (2, 4, 16))
    assert doc["graph_module"]["metadata"] == {}  # dropped before torch sees it


def nodes(doc: dict[str, Any]) -> list[dict[str, Any]]:
    result: list[dict[str, Any]] = doc["graph_module"]["graph"]["nodes"]
    return result


@pytest.mark.parametrize(
    ("edit", "reason"),
    [
        (lambda d: d.update(guards_code=["x.size(0) > 2"]), "model.guards_code must be empty"),
        (lambda d: d.update(range_constraints={"s0": {}}), "range_constraints must be empty"),
        (lambda d: d.update(verifiers=["CUSTOM"]), "verifier 'CUSTOM' is not allowed"),
        (lambda d: d.update(backdoor=1), "unexpected or missing fields"),
        (lambda d: nodes(d)[0].update(target="builtins.eval"), "builtins.eval"),
        (lambda d: nodes(d)[0].update(target="torch.ops.aten.from_file.default"), "from_file"),
        (lambda d: nodes(d)[0].update(target="torch.ops.mylib.evil.default"), "mylib"),
    ],
)
def test_what_a_graph_may_not_hold_is_refused(
    program: dict[str, Any], edit: Any, reason: str
) -> None:
    with pytest.raises(RefusedError, match=reason.replace("(", r"\(").replace(".", r"\.")):
        check_program(edited(program, edit))


def test_symbolic_sizes_are_refused(program: dict[str, Any]) -> None:
    def symbolic(doc: dict[str, Any]) -> None:
        meta = doc["graph_module"]["graph"]["tensor_values"]
        first = next(iter(meta.values()))
        first["sizes"][0] = {"as_expr": {"expr_str": "s0"}}

    with pytest.raises(RefusedError, match=r"symbolic size \(as_expr\); only static shapes"):
        check_program(edited(program, symbolic))


def test_not_an_object_and_renamed_values_are_refused(program: dict[str, Any]) -> None:
    with pytest.raises(RefusedError, match="model: expected an object"):
        check_program([program])

    def rename(doc: dict[str, Any]) -> None:
        nodes(doc)[0]["outputs"][0]["as_tensor"]["name"] = "__import__"

    with pytest.raises(RefusedError, match="is not a plain identifier"):
        check_program(edited(program, rename))


def test_a_second_input_is_refused(program: dict[str, Any]) -> None:
    def two_inputs(doc: dict[str, Any]) -> None:
        specs = doc["graph_module"]["signature"]["input_specs"]
        specs.append(copy.deepcopy(specs[-1]))

    with pytest.raises(RefusedError, match="must take one tensor and return one tensor"):
        check_program(edited(program, two_inputs))
