"""A log text split once into lines, and the bounded number parsing its fields use
(speedrun.logparse's internals)."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from itertools import accumulate, compress, count, islice, repeat

MAX_INT_DIGITS = 18  # a step, GPU index or MiB figure; int() of long strings is quadratic
_RULER = "=" * 40
_SEPARATOR_RE = re.compile(r"={40,}[ \t]*\r?")  # fullmatch on a line


@dataclass(frozen=True)
class LogText:
    """The log split once into lines. `heads[i]` is line i without its newline, cut to
    MAX_LINE_CHARS (`split_lines`)."""

    text: str
    heads: list[str]
    chars_before: list[int]  # [i]: characters in lines 0..i-1, newlines left out
    cut: list[int]  # lines longer than MAX_LINE_CHARS
    separators: list[int]  # the `=` rulers

    def offset(self, index: int) -> int:
        """Where line `index` starts in `text` (len(text) + 1 for the line after the last)."""
        return self.chars_before[index] + index

    def chars(self, index: int) -> int:
        return self.chars_before[index + 1] - self.chars_before[index]

    def is_blank(self, first: int, stop: int) -> bool:
        return not self.text[self.offset(first) : self.offset(stop)].strip()


def split_lines(text: str, max_line_chars: int) -> LogText:
    heads = text.split("\n")
    chars_before = [0, *accumulate(map(len, heads))]
    cut: list[int] = []
    if max(map(len, heads)) > max_line_chars:
        cut = [i for i, chars in enumerate(map(len, heads)) if chars > max_line_chars]
    for i in cut:
        heads[i] = heads[i][:max_line_chars]
    rulers = lines_starting(heads, 0, _RULER)
    separators = [i for i in rulers if _SEPARATOR_RE.fullmatch(heads[i])]
    return LogText(text, heads, chars_before, cut, separators)


def lines_starting(heads: list[str], first: int, prefix: str | tuple[str, ...]) -> list[int]:
    """Indices from `first` on of the lines that start with `prefix` (map/compress: no Python
    code runs per line, most of a log's lines are neither steps nor rulers)."""
    starts = map(str.startswith, islice(heads, first, None), repeat(prefix))
    return list(compress(count(first), starts))


def to_int(digits: str) -> int:
    if len(digits) > MAX_INT_DIGITS:
        raise ValueError(f"a {len(digits)}-digit number")
    return int(digits)


def int_or_none(digits: str | None) -> int | None:
    try:
        return None if digits is None else to_int(digits)
    except ValueError:
        return None


def nan_to_none(number: float) -> float | None:
    return None if math.isnan(number) else number
