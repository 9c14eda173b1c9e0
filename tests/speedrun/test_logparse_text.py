"""speedrun.logparse.text: a log split once into lines (cut to a bound, with offsets back
into the text and the `=` rulers found), and the bounded number parsing of its fields."""

from __future__ import annotations

import math

import pytest

from speedrun.logparse.text import (
    MAX_INT_DIGITS,
    int_or_none,
    lines_starting,
    nan_to_none,
    split_lines,
    to_int,
)

RULER = "=" * 100


def test_lines_offsets_and_rulers() -> None:
    text = f"code\n{RULER}\nRunning pytorch 2.5\n\nstep:0/10 val_loss:5.0\n"
    log = split_lines(text, max_line_chars=1000)
    assert log.heads == ["code", RULER, "Running pytorch 2.5", "", "step:0/10 val_loss:5.0", ""]
    assert log.separators == [1] and log.cut == []
    for i, head in enumerate(log.heads):  # each offset points at its line in the text
        assert text[log.offset(i) : log.offset(i) + len(head)] == head
        assert log.chars(i) == len(head)
    assert log.is_blank(3, 4) and not log.is_blank(2, 4)


def test_long_lines_are_cut_but_offsets_still_count_every_character() -> None:
    text = "x" * 50 + "\nstep:1/2\n"
    log = split_lines(text, max_line_chars=10)
    assert log.cut == [0] and log.heads[0] == "x" * 10
    assert log.chars(0) == 50 and text[log.offset(1) :].startswith("step:1/2")


def test_a_short_or_indented_ruler_is_not_a_separator() -> None:
    log = split_lines(f"{'=' * 39}\n {RULER}\n{RULER}  \n{RULER}x\n", max_line_chars=1000)
    assert log.separators == [2]  # trailing blanks are allowed, other text is not


def test_lines_starting_finds_prefixes_from_a_line_on() -> None:
    heads = ["step:0", "s:1 tel:3", "x", "step:2"]
    assert lines_starting(heads, 0, ("step:", "s:")) == [0, 1, 3]
    assert lines_starting(heads, 2, "step:") == [3]


def test_numbers_are_bounded() -> None:
    assert to_int("9" * MAX_INT_DIGITS) == int("9" * MAX_INT_DIGITS)
    with pytest.raises(ValueError, match="19-digit"):
        to_int("9" * (MAX_INT_DIGITS + 1))
    assert int_or_none("9" * 5000) is None and int_or_none(None) is None
    assert int_or_none("42") == 42
    assert nan_to_none(math.nan) is None and nan_to_none(1.5) == 1.5
