"""A submitted torch.export archive (`model.pt2`), checked and copied before torch reads it.

`torch.export.load` interprets much of what an archive says (torch 2.13,
torch/_export/serde/serialize.py and torch/export/pt2_archive/_package.py): symbolic sizes go
through `sympy.sympify` (a Python `eval`), `guards_code` is code, weights, constants, custom
objects and sample inputs may be pickles, pytree specs name Python types, operator targets are
resolved by attribute walks from `torch`, `math` and `_operator`, an `aotinductor/` folder loads
a shared library, and graph-value names become parameter names of generated Python source
(a placeholder called `x=__import__('os').system(...)` runs when that source is compiled).

This module never imports torch. It opens the archive with `zipfile` (one root folder, only the
member names torch writes, stored not compressed, sizes bounded, no duplicates), parses the
JSON with `json`, and checks it against an allow-list: static shapes only (every size, stride
and offset `as_int`; no range constraints, symbolic values, guards or custom objects), names
that are plain identifiers, known argument kinds (tensors, ints, floats, bools, strings, none,
scalar types, memory formats, strided layout, cpu/cuda devices, optional tensors; graphs only
inside allowed higher-order operators, checked recursively), every call target
`torch.ops.aten.*` or an allowed higher-order operator, weights and constants as raw bytes
(`use_pickle: false`) that hold what their metadata says, one tensor in and one tensor out with
the canonical pytree specs. Then it writes a sanitized copy: the checked JSON re-serialized
without node metadata or stack traces, the same weight bytes, and an empty sample-inputs member,
so torch never unpickles anything the submitter wrote. The evaluator loads only the copy.
The approach is safetensors' (huggingface/safetensors: a JSON header parsed as data and raw
tensor bytes, never a pickle) applied to torch.export's archive, whose docs warn that
`torch.export.load` must never see an untrusted file.
"""

from __future__ import annotations

import json
import re
import shutil
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
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
MAX_ARCHIVE_BYTES = 8 * 1024**3
MAX_JSON_BYTES = 64 * 1024**2
MAX_MEMBERS = 65_536
MAX_DIM = 1 << 40
MAX_GRAPH_DEPTH = 4
VERIFIERS = frozenset({"ATEN", "TRAINING"})
LEAF: dict[str, Any] = {"type": None, "context": None, "children_spec": []}
IN_SPEC = [1, {"type": "builtins.tuple", "context": "null", "children_spec": [
    {"type": "builtins.tuple", "context": "null", "children_spec": [LEAF]},
    {"type": "builtins.dict", "context": "[]", "children_spec": []},
]}]  # fmt: skip
OUT_SPEC = [1, LEAF]  # one positional tensor in, one tensor out: torch's own serialization

ROOT = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}")
TARGET = re.compile(
    r"torch\.ops\.(aten|higher_order)\.(\w{1,200})(?:\.([A-Za-z]\w{0,99}))?", re.ASCII
)
STATIC_MEMBERS = {  # member -> accepted contents (copied as they are)
    "archive_format": re.compile(rb"pt2"),
    "archive_version": re.compile(rb"\d{1,4}"),
    "byteorder": re.compile(rb"little"),
    ".data/version": re.compile(rb"\d{1,4}\n?"),
    ".data/serialization_id": re.compile(rb"\d{1,64}"),
}
MODEL_JSON, SAMPLE_INPUTS = "models/model.json", "data/sample_inputs/model.pt"
CONFIGS = {"weights": "data/weights/model_weights_config.json",
           "constants": "data/constants/model_constants_config.json"}  # fmt: skip
PAYLOAD = {"weights": re.compile(r"data/weights/(weight_\d{1,9})"),
           "constants": re.compile(r"data/constants/(tensor_\d{1,9})")}  # fmt: skip


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


def sanitize_archive(src: Path, dst: Path, max_bytes: int = MAX_ARCHIVE_BYTES) -> ArchiveSummary:
    """Check the archive at `src` and write the copy torch may load to `dst`; or refuse."""
    if src.stat().st_size > max_bytes:
        raise RefusedError(f"the archive is larger than {max_bytes} bytes")
    try:
        with zipfile.ZipFile(src) as zf:
            members = _members(zf, max_bytes)
            docs = {name: _read_json(zf, members[name]) for name in (MODEL_JSON, *CONFIGS.values())}
            summary = _check_program(docs[MODEL_JSON])
            for kind, config in CONFIGS.items():
                _check_payloads(docs[config], kind, members)
            _write_copy(zf, members, docs, dst)
    except (
        zipfile.BadZipFile,
        zipfile.LargeZipFile,
        EOFError,
        NotImplementedError,
        ValueError,
    ) as exc:
        raise RefusedError(f"the archive is not a readable zip: {exc}") from None
    except RecursionError:
        raise RefusedError("the archive's JSON is nested too deeply") from None
    return summary


# --- the zip container ----------------------------------------------------------------------


def _members(zf: zipfile.ZipFile, max_bytes: int) -> dict[str, zipfile.ZipInfo]:
    """Members by their name under the single root folder; refuse anything torch does not write."""
    infos = zf.infolist()
    if not infos or len(infos) > MAX_MEMBERS:
        raise RefusedError(f"the archive has {len(infos)} members")
    root = infos[0].filename.split("/", 1)[0]
    members: dict[str, zipfile.ZipInfo] = {}
    total = 0
    for info in infos:
        head, _, name = info.filename.partition("/")
        if not ROOT.fullmatch(head) or head != root or not _known_member(name):
            raise RefusedError(f"unexpected archive member {info.filename!r}")
        if name in members:
            raise RefusedError(f"archive member {info.filename!r} appears twice")
        if info.compress_type != zipfile.ZIP_STORED or info.flag_bits & 0x1:
            raise RefusedError(f"archive member {info.filename!r} is compressed or encrypted")
        total += info.file_size
        if info.file_size != info.compress_size or total > max_bytes:
            raise RefusedError(f"archive members hold more than {max_bytes} bytes")
        members[name] = info
    missing = {MODEL_JSON, SAMPLE_INPUTS, *CONFIGS.values(), *STATIC_MEMBERS} - set(members)
    if missing - {".data/serialization_id"}:
        raise RefusedError(f"the archive lacks {sorted(missing)}")
    return members


def _known_member(name: str) -> bool:
    fixed = {MODEL_JSON, SAMPLE_INPUTS, *CONFIGS.values(), *STATIC_MEMBERS}
    return name in fixed or any(p.fullmatch(name) for p in PAYLOAD.values())


def _read_json(zf: zipfile.ZipFile, info: zipfile.ZipInfo) -> Any:
    if info.file_size > MAX_JSON_BYTES:
        raise RefusedError(f"{info.filename} is larger than {MAX_JSON_BYTES} bytes")
    try:
        return json.loads(zf.read(info), object_pairs_hook=_unique_keys)
    except (UnicodeDecodeError, ValueError) as exc:
        raise RefusedError(f"{info.filename} is not valid JSON: {exc}") from None


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out = dict(pairs)
    if len(out) != len(pairs):
        raise RefusedError("a JSON object of the archive repeats a key")
    return out


def _write_copy(
    zf: zipfile.ZipFile, members: dict[str, zipfile.ZipInfo], docs: dict[str, Any], dst: Path
) -> None:
    """The sanitized archive: checked JSON re-serialized, raw payloads copied, no sample inputs."""
    with zipfile.ZipFile(dst, "w", zipfile.ZIP_STORED, allowZip64=True) as out:
        for name, info in members.items():
            target = zipfile.ZipInfo(f"model/{name}", date_time=(1980, 1, 1, 0, 0, 0))
            if name in docs:
                out.writestr(target, json.dumps(docs[name]).encode())
            elif name == SAMPLE_INPUTS:
                out.writestr(target, b"")  # torch reads no example inputs from an empty member
            elif name in STATIC_MEMBERS:
                data = zf.read(info)
                if not STATIC_MEMBERS[name].fullmatch(data):
                    raise RefusedError(f"archive member {name} holds {data[:32]!r}")
                out.writestr(target, data)
            else:
                target.file_size = info.file_size
                with zf.open(info) as reader, out.open(target, "w", force_zip64=True) as writer:
                    shutil.copyfileobj(reader, writer, 1 << 20)  # the CRC is checked on the way


# --- the program: model.json ----------------------------------------------------------------


@dataclass(frozen=True)
class _Meta:
    spec: TensorSpec
    strides: tuple[int, ...]
    offset: int
    itemsize: int


def _check_program(doc: Any) -> ArchiveSummary:
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
    values = {ident_field(k, where): _tensor_meta(m, f"{where}.{k}") for k, m in metas.items()}
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


def _tensor_meta(meta: Any, where: str) -> _Meta:
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
    return _Meta(TensorSpec(name, tuple(sizes)), tuple(strides), offset, itemsize)


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


# --- weights and constants ------------------------------------------------------------------


def _check_payloads(doc: Any, kind: str, members: dict[str, zipfile.ZipInfo]) -> None:
    """Every entry raw bytes (never a pickle) that hold what its metadata says."""
    config = is_type(dict, obj_field(doc, CONFIGS[kind], {"config"})["config"], CONFIGS[kind])
    files = {m.group(1): name for name in members if (m := PAYLOAD[kind].fullmatch(name))}
    used: set[str] = set()
    for fqn, entry in config.items():
        where = f"{kind} entry {fqn!r:.60}"
        fqn_field(fqn, where)
        p = obj_field(entry, where, {"path_name", "is_param", "use_pickle", "tensor_meta"})
        if p["use_pickle"] is not False:
            raise RefusedError(f"{where} is pickled; weights and constants must be raw bytes")
        flag_field(p["is_param"], where)
        if p["path_name"] not in files:
            raise RefusedError(f"{where} names {p['path_name']!r:.60}, not a raw {kind} member")
        _check_extent(_tensor_meta(p["tensor_meta"], where), members[files[p["path_name"]]], where)
        used.add(p["path_name"])
    if set(files) - used:
        raise RefusedError(f"{kind} members {sorted(set(files) - used)[:5]} are not referenced")


def _check_extent(meta: _Meta, info: zipfile.ZipInfo, where: str) -> None:
    """The strided view torch builds on the member's bytes stays inside them."""
    if 0 in meta.spec.shape:
        return
    elements, rest = divmod(info.file_size, meta.itemsize)
    last = meta.offset + sum(
        (n - 1) * s for n, s in zip(meta.spec.shape, meta.strides, strict=True)
    )
    if rest or last >= elements:
        raise RefusedError(f"{where}: its sizes and strides reach past its {info.file_size} bytes")
