"""Field validators for the JSON of a torch.export archive (runner.pt2check and
runner.pt2graph read it with them).

Each takes a parsed JSON value and where it sits, and returns it checked or raises RefusedError
naming the place: objects with exactly the allowed keys, one-key unions, bounded integers,
finite floats, plain identifiers and dotted names, known dtypes, devices, and the argument
kinds a graph node may carry. Imports no torch.
"""

from __future__ import annotations

import keyword
import re
from collections.abc import Callable
from typing import Any

# ScalarType codes of torch/_export/serde/schema.py -> (name, bytes per element); complex and
# unknown types are refused.
DTYPES = {
    1: ("uint8", 1), 2: ("int8", 1), 3: ("int16", 2), 4: ("int32", 4), 5: ("int64", 8),
    6: ("float16", 2), 7: ("float32", 4), 8: ("float64", 8), 12: ("bool", 1),
    13: ("bfloat16", 2), 28: ("uint16", 2), 29: ("float8_e4m3fn", 1), 30: ("float8_e5m2", 1),
    31: ("float8_e4m3fnuz", 1), 32: ("float8_e5m2fnuz", 1), 33: ("float8_e8m0fnu", 1),
    34: ("uint32", 4), 35: ("uint64", 8),
}  # fmt: skip
STRIDED, MEMORY_FORMATS, DEVICES = 7, range(5), frozenset({"cpu", "cuda"})
IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,199}")
FQN_PART = re.compile(r"\d{1,9}|[A-Za-z_][A-Za-z0-9_]{0,199}")
DUNDER = re.compile(r"__\w*__", re.ASCII)
ATEN_DUNDERS = frozenset(
    f"__{p}{n}__" for p in ("", "i") for n in ("and", "or", "xor", "lshift", "rshift")
)


class RefusedError(Exception):
    """The model breaks an evaluation rule (as opposed to failing to run)."""


def obj_field(
    value: Any, where: str, required: set[str], optional: frozenset[str] = frozenset()
) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise RefusedError(f"{where}: expected an object")
    keys = set(value)
    if not required <= keys or not keys <= required | optional:
        odd = sorted((keys - required - optional) | (required - keys))
        raise RefusedError(f"{where}: unexpected or missing fields {odd}")
    return value


def union_field(value: Any, where: str) -> tuple[str, Any]:
    if not isinstance(value, dict) or len(value) != 1:
        raise RefusedError(f"{where}: expected one tagged value")
    return next(iter(value.items()))


def int_field(value: Any, where: str, lo: int = -(1 << 62), hi: int = 1 << 62) -> int:
    if type(value) is not int or not lo <= value <= hi:
        raise RefusedError(f"{where}: expected an integer in [{lo}, {hi}], got {value!r:.60}")
    return value


def is_type(kind: type, value: Any, where: str) -> Any:
    if type(value) is not kind:
        raise RefusedError(f"{where}: expected {kind.__name__}, got {value!r:.60}")
    return value


def list_field(value: Any, where: str, check: Callable[[Any, str], Any]) -> list[Any]:
    return [check(v, f"{where}[{i}]") for i, v in enumerate(is_type(list, value, where))]


def ident_field(value: Any, where: str) -> str:
    if not isinstance(value, str) or not IDENT.fullmatch(value) or reserved_name(value):
        raise RefusedError(f"{where}: {value!r:.60} is not a plain identifier")
    return value


def fqn_field(value: Any, where: str) -> str:
    parts = value.split(".") if isinstance(value, str) else [None]
    if not all(
        isinstance(p, str) and FQN_PART.fullmatch(p) and not reserved_name(p) for p in parts
    ):
        raise RefusedError(f"{where}: {value!r:.60} is not a dotted name")
    return str(value)


def reserved_name(name: str) -> bool:
    return keyword.iskeyword(name) or bool(DUNDER.fullmatch(name))


def empty_fields(doc: dict[str, Any], keys: tuple[str, ...], where: str) -> None:
    for key in keys:
        if doc.get(key) not in (None, {}, []):
            raise RefusedError(f"{where}.{key} must be empty (static shapes, no code or objects)")


def float_field(value: Any, where: str) -> float:
    if type(value) not in (int, float):
        raise RefusedError(f"{where}: expected a number, got {value!r:.60}")
    return float(value)


def string_field(value: Any, where: str) -> str:
    if not isinstance(value, str) or len(value) > 1000:
        raise RefusedError(f"{where}: expected a short string")
    return value


def dtype_field(value: Any, where: str) -> int:
    if int_field(value, where) not in DTYPES:
        raise RefusedError(f"{where}: scalar type {value} is not allowed")
    return int(value)


def device_field(value: Any, where: str) -> None:
    d = obj_field(value, where, {"type"}, frozenset({"index"}))
    if d["type"] not in DEVICES:
        raise RefusedError(f"{where}: device {d['type']!r:.40} is not allowed")
    if d.get("index") is not None:
        int_field(d["index"], where, 0, 1023)


def tensor_ref(value: Any, where: str) -> str:
    return ident_field(obj_field(value, where, {"name"})["name"], where)


def tagged_tensor(value: Any, where: str) -> str:
    kind, ref = union_field(value, where)
    if kind != "as_tensor":
        raise RefusedError(f"{where}: expected a tensor, got {kind}")
    return tensor_ref(ref, where)


def optional_tensor(value: Any, where: str) -> None:
    kind, v = union_field(value, where)
    if kind == "as_tensor":
        tensor_ref(v, where)
    elif kind != "as_none":
        raise RefusedError(f"{where}: expected a tensor or none, got {kind}")


def flag_field(value: Any, where: str) -> bool:
    return bool(is_type(bool, value, where))


ARGUMENTS: dict[str, Callable[[Any, str], Any]] = {
    "as_none": flag_field,
    "as_tensor": tensor_ref,
    "as_tensors": lambda v, w: list_field(v, w, tensor_ref),
    "as_int": int_field,
    "as_ints": lambda v, w: list_field(v, w, int_field),
    "as_float": float_field,
    "as_floats": lambda v, w: list_field(v, w, float_field),
    "as_bool": flag_field,
    "as_bools": lambda v, w: list_field(v, w, flag_field),
    "as_string": string_field,
    "as_strings": lambda v, w: list_field(v, w, string_field),
    "as_scalar_type": dtype_field,
    "as_memory_format": lambda v, w: int_field(v, w, MEMORY_FORMATS.start, MEMORY_FORMATS.stop - 1),
    "as_layout": lambda v, w: int_field(v, w, STRIDED, STRIDED),
    "as_device": device_field,
    "as_optional_tensor": optional_tensor,
    "as_optional_tensors": lambda v, w: list_field(v, w, optional_tensor),
}
OUTPUTS = frozenset({"as_tensor", "as_tensors", "as_none", "as_optional_tensors"})
