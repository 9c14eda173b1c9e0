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

This module reads the zip container, the weights and constants and writes the copy; the
program's allow-list (`models/model.json`) is runner.pt2graph, the field validators
runner.pt2fields.
"""

from __future__ import annotations

import json
import re
import shutil
import zipfile
from pathlib import Path
from typing import Any

from runner.pt2fields import (
    RefusedError,
    flag_field,
    fqn_field,
    is_type,
    obj_field,
)
from runner.pt2graph import (
    ALLOWED_HOPS,
    IO_OPS,
    ArchiveSummary,
    TensorMeta,
    TensorSpec,
    check_program,
    tensor_meta,
)

__all__ = [
    "ALLOWED_HOPS",
    "IO_OPS",
    "MAX_ARCHIVE_BYTES",
    "MAX_JSON_BYTES",
    "ArchiveSummary",
    "RefusedError",
    "TensorSpec",
    "sanitize_archive",
]

MAX_ARCHIVE_BYTES = 8 * 1024**3
MAX_JSON_BYTES = 64 * 1024**2
MAX_MEMBERS = 65_536

ROOT = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}")
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


def sanitize_archive(src: Path, dst: Path, max_bytes: int = MAX_ARCHIVE_BYTES) -> ArchiveSummary:
    """Check the archive at `src` and write the copy torch may load to `dst`; or refuse."""
    if src.stat().st_size > max_bytes:
        raise RefusedError(f"the archive is larger than {max_bytes} bytes")
    try:
        with zipfile.ZipFile(src) as zf:
            members = _members(zf, max_bytes)
            docs = {name: _read_json(zf, members[name]) for name in (MODEL_JSON, *CONFIGS.values())}
            summary = check_program(docs[MODEL_JSON])
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
        _check_extent(tensor_meta(p["tensor_meta"], where), members[files[p["path_name"]]], where)
        used.add(p["path_name"])
    if set(files) - used:
        raise RefusedError(f"{kind} members {sorted(set(files) - used)[:5]} are not referenced")


def _check_extent(meta: TensorMeta, info: zipfile.ZipInfo, where: str) -> None:
    """The strided view torch builds on the member's bytes stays inside them."""
    if 0 in meta.spec.shape:
        return
    elements, rest = divmod(info.file_size, meta.itemsize)
    last = meta.offset + sum(
        (n - 1) * s for n, s in zip(meta.spec.shape, meta.strides, strict=True)
    )
    if rest or last >= elements:
        raise RefusedError(f"{where}: its sizes and strides reach past its {info.file_size} bytes")
