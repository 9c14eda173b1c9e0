"""speedrun.names: a human name is trimmed, capped and free of control and format
characters; what is wrong is said with its position."""

from __future__ import annotations

import pytest

from speedrun.names import MAX_NAME_CHARS, clean_name


@pytest.mark.parametrize(
    ("raw", "name"),
    [
        ("Muon improvements", "Muon improvements"),
        ("  \t Muon improvements \n", "Muon improvements"),  # trimmed first
        ("", None),
        ("   \n\t ", None),
        ("ReLU², QK-Norm & rotary <fast>", "ReLU², QK-Norm & rotary <fast>"),  # text, not HTML
        ("Мюон 改进 🚀", "Мюон 改进 🚀"),
        ("x" * MAX_NAME_CHARS, "x" * MAX_NAME_CHARS),
    ],
)
def test_good_names(raw: str, name: str | None) -> None:
    assert clean_name(raw) == name


@pytest.mark.parametrize(
    ("raw", "why"),
    [
        ("x" * (MAX_NAME_CHARS + 1), f"121 characters; at most {MAX_NAME_CHARS}"),
        ("two\nlines", "control character (U+000A) at position 4"),
        ("nul\x00byte", "control character (U+0000)"),
        ("bell\x07", "control character (U+0007)"),
        ("evil\u202etxt.exe", "format character (bidirectional or zero-width) (U+202E)"),
        ("zero\u200bwidth", "U+200B"),
        ("line\u2028sep", "line separator (U+2028)"),
        ("private\ue000use", "private-use character (U+E000)"),
        ("lone \ud800 surrogate", "surrogate (U+D800)"),
        ("del\x7f", "control character (U+007F)"),
    ],
)
def test_bad_names_say_what_is_wrong(raw: str, why: str) -> None:
    with pytest.raises(ValueError, match="name") as caught:
        clean_name(raw)
    assert why in str(caught.value)
