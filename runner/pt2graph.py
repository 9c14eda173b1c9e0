"""The program of a torch.export archive (`models/model.json`), checked against an allow-list
before torch reads it (runner.pt2check opens the archive and calls `check_program`).

Static shapes only (every size, stride and offset `as_int`; no range constraints, symbolic
values, guards or custom objects), names that are plain identifiers, known argument kinds
(graphs only inside allowed higher-order operators, checked recursively), every call target
`torch.ops.aten.*` or an allowed higher-order operator, one tensor in and one tensor out with
the canonical pytree specs; node metadata is dropped. Imports no torch.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

from runner.pt2fields import (
    ARGUMENTS,
    ATEN_DUNDERS,
    DTYPES,
    DUNDER,
    IDENT,
    OUTPUTS,
    STRIDED,
    RefusedError,
    device_field,
    dtype_field,
    empty_fields,
    flag_field,
    fqn_field,
    ident_field,
    int_field,
    is_type,
    list_field,
    obj_field,
    string_field,
    tagged_tensor,
    tensor_ref,
    union_field,
)

ALLOWED_HOPS = frozenset({"flex_attention", "wrap_with_set_grad_enabled", "wrap_with_autocast"})
IO_OPS = frozenset({"from_file", "_print", "save", "load", "_assert_async", "_nested_from_file"})
MAX_DIM = 1 << 40
MAX_GRAPH_DEPTH = 4
VERIFIERS = frozenset({"ATEN", "TRAINING"})
LEAF: dict[str, Any] = {"type": None, "context": None, "children_spec": []}
IN_SPEC = [1, {"type": "builtins.tuple", "context": "null", "children_spec": [
    {"type": "builtins.tuple", "context": "null", "children_spec": [LEAF]},
    {"type": "builtins.dict", "context": "[]", "children_spec": []},
]}]  # fmt: skip
OUT_SPEC = [1, LEAF]  # one positional tensor in, one tensor out: torch's own serialization
TARGET = re.compile(
    r"torch\.ops\.(aten|higher_order)\.(\w{1,200})(?:\.([A-Za-z]\w{0,99}))?", re.ASCII
)


@dataclass(frozen=True)
class TensorSpec:
    dtype: str
    shape: tuple[int, ...]


@dataclass
class ArchiveSummary:
    """What the evaluator needs from a checked archive, before torch loads its copy."""

    targets: set[str] = field(default_factory=set)
    input: TensorSpec | None = None
    output: TensorSpec | None = None


@dataclass(frozen=True)
class TensorMeta:
    """A tensor's metadata: its spec, and where its strided view sits in its bytes."""

    spec: TensorSpec
    strides: tuple[int, ...]
    offset: int
    itemsize: int


def check_program(doc: Any) -> ArchiveSummary:
    optional = {"opset_version", "range_constraints", "verifiers", "torch_version", "guards_code"}
    ep = obj_field(doc, "model", {"graph_module", "schema_version"}, frozenset(optional))
    empty_fields(ep, ("range_constraints", "guards_code"), "model")
    version = obj_field(ep["schema_version"], "schema_version", {"major", "minor"})
    int_field(version["major"], "schema_version"), int_field(version["minor"], "schema_version")
    for name, number in is_type(dict, ep.get("opset_version", {}), "opset_version").items():
        ident_field(name, "opset_version"), int_field(number, "opset_version")
    for verifier in is_type(list, ep.get("verifiers", []), "verifiers"):
        if verifier not in VERIFIERS:
            raise RefusedError(f"verifier {verifier!r:.40} is not allowed")
    string_field(ep.get("torch_version", ""), "torch_version")
    optional = {"metadata", "treespec_namedtuple_fields"}
    required = {"graph", "signature", "module_call_graph"}
    gm = obj_field(ep["graph_module"], "graph_module", required, frozenset(optional))
    empty_fields(gm, ("treespec_namedtuple_fields",), "graph_module")
    is_type(dict, gm.get("metadata", {}), "graph_module.metadata")
    gm["metadata"] = {}  # dropped: torch json-loads its "custom" entry
    summary = ArchiveSummary()
    values = _check_graph(gm["graph"], "graph", 0, summary.targets)
    summary.input, summary.output = _check_signature(gm["signature"], values)
    _check_module_calls(gm["module_call_graph"])
    return summary


def _check_graph(graph: Any, where: str, depth: int, targets: set[str]) -> dict[str, TensorSpec]:
    if depth > MAX_GRAPH_DEPTH:
        raise RefusedError(f"{where}: subgraphs nested too deeply")
    optional = {"is_single_tensor_return", "custom_obj_values"}
    optional |= {f"sym_{kind}_values" for kind in ("int", "bool", "float")}
    g = obj_field(
        graph, where, {"inputs", "outputs", "nodes", "tensor_values"}, frozenset(optional)
    )
    empty_fields(g, tuple(optional - {"is_single_tensor_return"}), where)
    flag_field(g.get("is_single_tensor_return", False), where)
    metas = is_type(dict, g["tensor_values"], f"{where}.tensor_values")
    values = {ident_field(k, where): tensor_meta(m, f"{where}.{k}") for k, m in metas.items()}
    list_field(g["inputs"], f"{where}.inputs", tagged_tensor)
    list_field(g["outputs"], f"{where}.outputs", tagged_tensor)
    for i, node in enumerate(is_type(list, g["nodes"], f"{where}.nodes")):
        _check_node(node, f"{where}.nodes[{i}]", depth, targets)
    return {name: meta.spec for name, meta in values.items()}


def _check_node(node: Any, where: str, depth: int, targets: set[str]) -> None:
    optional = frozenset({"metadata", "is_hop_single_tensor_return", "name"})
    n = obj_field(node, where, {"target", "inputs", "outputs"}, optional)
    targets.add(_target(n["target"], where))
    hop = n["target"].startswith("torch.ops.higher_order.")
    if n.get("name") is not None:
        ident_field(n["name"], f"{where}.name")
    if n.get("is_hop_single_tensor_return") is not None:
        flag_field(n["is_hop_single_tensor_return"], where)
    is_type(dict, n.get("metadata", {}), f"{where}.metadata")
    n["metadata"] = {}  # stack traces, module paths and targets torch would resolve: dropped
    for i, named in enumerate(is_type(list, n["inputs"], f"{where}.inputs")):
        at = f"{where}.inputs[{i}]"
        a = obj_field(named, at, {"name", "arg"}, frozenset({"kind"}))
        if a["name"] != "" and not (isinstance(a["name"], str) and IDENT.fullmatch(a["name"])):
            raise RefusedError(f"{at}: argument name {a['name']!r:.60} is not allowed")
        if a.get("kind") is not None:
            int_field(a["kind"], at, 0, 2)
        _check_argument(a["arg"], at, hop, depth, targets)
    for i, out in enumerate(is_type(list, n["outputs"], f"{where}.outputs")):
        kind, value = union_field(out, f"{where}.outputs[{i}]")
        if kind not in OUTPUTS:
            raise RefusedError(f"{where}.outputs[{i}]: output kind {kind} is not allowed")
        ARGUMENTS[kind](value, f"{where}.outputs[{i}]")


def _check_argument(arg: Any, where: str, hop: bool, depth: int, targets: set[str]) -> None:
    kind, value = union_field(arg, where)
    if kind == "as_graph" and hop:
        g = obj_field(value, where, {"name", "graph"})
        ident_field(g["name"], where)
        _check_graph(g["graph"], f"{where}.graph", depth + 1, targets)
    elif kind in ARGUMENTS:
        ARGUMENTS[kind](value, where)
    else:
        raise RefusedError(f"{where}: argument kind {kind!r:.40} is not allowed")


def _target(value: Any, where: str) -> str:
    m = TARGET.fullmatch(value) if isinstance(value, str) else None
    if m is None:
        raise RefusedError(
            f"{where}: call target {value!r:.80} is not an ATen operator (torch.ops.aten.*) "
            "or an allowed higher-order operator"
        )
    namespace, op, overload = m.groups()
    if namespace == "higher_order" and (overload is not None or op not in ALLOWED_HOPS):
        raise RefusedError(f"{where}: higher-order operator {op} is not allowed")
    dunder = DUNDER.fullmatch(op) and op not in ATEN_DUNDERS
    if namespace == "aten" and (overload is None or dunder):
        raise RefusedError(f"{where}: {value!r:.80} is not an ATen operator overload")
    if namespace == "aten" and op in IO_OPS:
        raise RefusedError(f"{where}: I/O operator aten::{op} is not allowed")
    return str(value)


def _static(value: Any, where: str) -> int:
    kind, number = union_field(value, where)
    if kind != "as_int":
        raise RefusedError(f"{where}: symbolic size ({kind}); only static shapes are allowed")
    return int_field(number, where, 0, MAX_DIM)


def tensor_meta(meta: Any, where: str) -> TensorMeta:
    fields = {"dtype", "sizes", "requires_grad", "device", "strides", "storage_offset", "layout"}
    m = obj_field(meta, where, fields)
    code = dtype_field(m["dtype"], where)
    sizes = list_field(m["sizes"], f"{where}.sizes", _static)
    strides = list_field(m["strides"], f"{where}.strides", _static)
    if len(sizes) != len(strides) or len(sizes) > 16:
        raise RefusedError(f"{where}: {len(sizes)} sizes but {len(strides)} strides")
    offset = _static(m["storage_offset"], f"{where}.storage_offset")
    flag_field(m["requires_grad"], where)
    device_field(m["device"], where)
    int_field(m["layout"], f"{where}.layout", STRIDED, STRIDED)
    name, itemsize = DTYPES[code]
    return TensorMeta(TensorSpec(name, tuple(sizes)), tuple(strides), offset, itemsize)


def _check_signature(sig: Any, values: dict[str, TensorSpec]) -> tuple[TensorSpec, TensorSpec]:
    s = obj_field(sig, "signature", {"input_specs", "output_specs"})
    fields = {"parameter": "parameter_name", "buffer": "buffer_name"}
    fields["tensor_constant"] = "tensor_constant_name"
    users: list[str] = []
    for i, spec in enumerate(is_type(list, s["input_specs"], "input_specs")):
        where = f"input_specs[{i}]"
        kind, v = union_field(spec, where)
        if kind == "user_input":
            users.append(tagged_tensor(obj_field(v, where, {"arg"})["arg"], where))
        elif kind in fields:
            x = obj_field(v, where, {"arg", fields[kind]}, frozenset({"persistent"}))
            tensor_ref(x["arg"], where), fqn_field(x[fields[kind]], where)
            flag_field(x.get("persistent", True), where)
        else:
            raise RefusedError(f"{where}: input kind {kind!r:.40} is not allowed")
    outputs = list_field(s["output_specs"], "output_specs", _user_output)
    if len(users) != 1 or len(outputs) != 1:
        raise RefusedError("the model must take one tensor and return one tensor")
    if users[0] not in values or outputs[0] not in values:
        raise RefusedError("the model's input or output has no tensor metadata")
    return values[users[0]], values[outputs[0]]


def _user_output(value: Any, where: str) -> str:
    kind, v = union_field(value, where)
    if kind != "user_output":
        raise RefusedError(f"{where}: output kind {kind!r:.40} is not allowed (no mutations)")
    return tagged_tensor(obj_field(v, where, {"arg"})["arg"], where)


def _check_module_calls(entries: Any) -> None:
    for i, entry in enumerate(is_type(list, entries, "module_call_graph")):
        where = f"module_call_graph[{i}]"
        e = obj_field(entry, where, {"fqn"}, frozenset({"signature"}))
        if i == 0 and e["fqn"] == "":
            _check_root_call(e.get("signature"), where)
        elif i == 0 or e.get("signature") is not None:
            raise RefusedError(f"{where}: only the root module may carry a call signature")
        else:
            fqn_field(e["fqn"], where)


def _check_root_call(sig: Any, where: str) -> None:
    keys = {"inputs", "outputs", "in_spec", "out_spec"}
    s = obj_field(sig, where, keys, frozenset({"forward_arg_names"}))
    list_field(s["inputs"], where, tagged_tensor), list_field(s["outputs"], where, tagged_tensor)
    for key, canonical in (("in_spec", IN_SPEC), ("out_spec", OUT_SPEC)):
        try:
            spec = json.loads(string_field(s[key], where))
        except ValueError:
            spec = None
        if spec != canonical:
            raise RefusedError(f"{where}.{key}: the model must take one tensor, return one tensor")
    if s.get("forward_arg_names") is not None:
        list_field(s["forward_arg_names"], where, ident_field)
