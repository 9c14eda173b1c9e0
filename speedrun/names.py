"""Human names of submissions and records ("Muon improvements", as the speedrun's README rows
name its records): what a submitter types is untrusted text that every page and feed shows,
so it is trimmed and checked once, the same way by the CLI (before sending) and the server
(which decides).

A name is at most `MAX_NAME_CHARS` characters once trimmed, and holds no control or format
character (Unicode categories Cc, Cf, Zl, Zp, Cs, Co, Cn): no newlines or tabs, no NUL, no
bidirectional overrides that would make a name read as another on the page, no zero-width
characters. An empty name is no name.
"""

from __future__ import annotations

import unicodedata

MAX_NAME_CHARS = 120
_REFUSED = {
    "Cc": "a control character",
    "Cf": "a format character (bidirectional or zero-width)",
    "Zl": "a line separator",
    "Zp": "a paragraph separator",
    "Cs": "a surrogate",
    "Co": "a private-use character",
    "Cn": "an unassigned code point",
}


def clean_name(text: str) -> str | None:
    """The name trimmed (None when nothing is left), or ValueError saying what is wrong."""
    name = text.strip()
    if not name:
        return None
    if len(name) > MAX_NAME_CHARS:
        raise ValueError(f"name is {len(name)} characters; at most {MAX_NAME_CHARS}")
    for i, ch in enumerate(name):
        what = _REFUSED.get(unicodedata.category(ch))
        if what is not None:
            raise ValueError(f"name holds {what} (U+{ord(ch):04X}) at position {i + 1}")
    return name
