"""runner.pt2fields: the validators the archive check reads a torch.export program with. Each
accepts exactly its kind (objects with exactly the allowed keys, one-key unions, bounded
integers that are not booleans, plain identifiers that are no keyword or dunder, known dtypes
and devices) and refuses anything else naming where it sits."""

from __future__ import annotations

from typing import Any

import pytest

from runner.pt2fields import (
    ARGUMENTS,
    DTYPES,
    RefusedError,
    device_field,
    dtype_field,
    empty_fields,
    float_field,
    fqn_field,
    ident_field,
    int_field,
    list_field,
    obj_field,
    optional_tensor,
    string_field,
    tagged_tensor,
    union_field,
)


def test_objects_need_exactly_their_keys() -> None:
    doc = {"a": 1, "b": 2}
    assert obj_field(doc, "x", {"a"}, frozenset({"b"})) is doc
    with pytest.raises(RefusedError, match=r"graph: unexpected or missing fields \['c'\]"):
        obj_field({"a": 1, "c": 3}, "graph", {"a"})
    with pytest.raises(RefusedError, match=r"missing fields \['a'\]"):
        obj_field({}, "graph", {"a"})
    with pytest.raises(RefusedError, match="graph: expected an object"):
        obj_field([("a", 1)], "graph", {"a"})


def test_unions_have_one_tag() -> None:
    assert union_field({"as_int": 3}, "arg") == ("as_int", 3)
    for bad in ({}, {"as_int": 3, "as_float": 1.0}, "as_int"):
        with pytest.raises(RefusedError, match="arg: expected one tagged value"):
            union_field(bad, "arg")


@pytest.mark.parametrize("value", [True, 1.0, "3", 1 << 63, None])
def test_integers_are_ints_in_bounds_never_booleans(value: Any) -> None:
    with pytest.raises(RefusedError, match="size: expected an integer"):
        int_field(value, "size")


def test_integers_and_floats_in_range() -> None:
    assert int_field(5, "n", 0, 5) == 5
    with pytest.raises(RefusedError, match=r"in \[0, 4\], got 5"):
        int_field(5, "n", 0, 4)
    assert float_field(2, "lr") == 2.0 and isinstance(float_field(2, "lr"), float)
    with pytest.raises(RefusedError, match="lr: expected a number"):
        float_field("nan", "lr")


@pytest.mark.parametrize("name", ["__class__", "import", "1x", "a.b", "a-b", "x" * 201, 7])
def test_identifiers_are_plain(name: Any) -> None:
    with pytest.raises(RefusedError, match="is not a plain identifier"):
        ident_field(name, "node")


def test_dotted_names_are_identifiers_or_indices() -> None:
    assert ident_field("linear_1", "node") == "linear_1"
    assert fqn_field("layers.0.attn", "fqn") == "layers.0.attn"
    for bad in ("layers..attn", "layers.__dict__", "os.system(1)", None):
        with pytest.raises(RefusedError, match="is not a dotted name"):
            fqn_field(bad, "fqn")


def test_dtypes_devices_and_strings() -> None:
    assert dtype_field(7, "dtype") == 7 and DTYPES[7] == ("float32", 4)
    with pytest.raises(RefusedError, match="scalar type 10 is not allowed"):  # complex
        dtype_field(10, "dtype")
    device_field({"type": "cuda", "index": 3}, "dev")
    device_field({"type": "cpu"}, "dev")
    with pytest.raises(RefusedError, match="device 'meta' is not allowed"):
        device_field({"type": "meta"}, "dev")
    with pytest.raises(RefusedError, match=r"in \[0, 1023\]"):
        device_field({"type": "cuda", "index": 5000}, "dev")
    with pytest.raises(RefusedError, match="expected a short string"):
        string_field("x" * 1001, "s")


def test_tensors_lists_and_empty_fields() -> None:
    assert tagged_tensor({"as_tensor": {"name": "x"}}, "in") == "x"
    with pytest.raises(RefusedError, match="in: expected a tensor, got as_int"):
        tagged_tensor({"as_int": 1}, "in")
    optional_tensor({"as_none": True}, "opt")
    with pytest.raises(RefusedError, match="expected a tensor or none, got as_string"):
        optional_tensor({"as_string": "x"}, "opt")
    assert list_field([1, 2], "ints", int_field) == [1, 2]
    with pytest.raises(RefusedError, match=r"ints\[1\]: expected an integer"):
        list_field([1, "2"], "ints", int_field)
    empty_fields(
        {"guards_code": [], "range_constraints": {}}, ("guards_code", "range_constraints"), "model"
    )
    with pytest.raises(RefusedError, match=r"model\.guards_code must be empty"):
        empty_fields({"guards_code": ["x > 2"]}, ("guards_code",), "model")


def test_every_argument_kind_checks_its_value() -> None:
    good = {
        "as_none": True,
        "as_tensor": {"name": "t"},
        "as_tensors": [{"name": "t"}],
        "as_int": 1,
        "as_ints": [1, 2],
        "as_float": 0.5,
        "as_floats": [0.5],
        "as_bool": False,
        "as_bools": [True],
        "as_string": "mean",
        "as_strings": ["a"],
        "as_scalar_type": 6,
        "as_memory_format": 0,
        "as_layout": 7,
        "as_device": {"type": "cpu"},
        "as_optional_tensor": {"as_none": True},
        "as_optional_tensors": [{"as_tensor": {"name": "t"}}],
    }
    assert set(good) == set(ARGUMENTS)
    for kind, value in good.items():
        ARGUMENTS[kind](value, kind)
    with pytest.raises(RefusedError):
        ARGUMENTS["as_layout"](0, "layout")  # only strided tensors
