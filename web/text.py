"""Untrusted text made presentable for the pages: Python highlighted (pygments, which escapes
every token), unified diffs split into typed lines (escaped by the template), descriptions
with http(s) links made clickable (everything else escaped), long logs cut to head and tail.

Whatever returns `Markup` here has escaped every character that came from the database.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass
from functools import lru_cache

from markupsafe import Markup, escape
from pygments import highlight
from pygments.formatters import HtmlFormatter
from pygments.lexers import PythonLexer

_FORMATTER = HtmlFormatter(nowrap=True)  # spans with short class names, styled by site.css


@lru_cache(maxsize=64)
def highlight_python(source: str) -> Markup:
    """Source as lines of `<span class="ln" id="L{n}">…</span>` with token spans inside.

    Pygments closes and reopens token spans at every newline, so each output line stands on
    its own and can be wrapped (the line numbers come from CSS counters: copying the code
    copies no numbers)."""
    html = highlight(source, PythonLexer(stripnl=False, ensurenl=True), _FORMATTER)
    lines = html.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    return Markup("").join(
        Markup('<span class="ln" id="L{}">{}</span>\n').format(i, Markup(line))
        for i, line in enumerate(lines, 1)
    )


@dataclass(frozen=True)
class DiffLine:
    kind: str  # meta | hunk | add | del | ctx
    text: str
    old_no: int | None = None
    new_no: int | None = None


@dataclass(frozen=True)
class Diff:
    lines: list[DiffLine]
    added: int
    removed: int

    @property
    def empty(self) -> bool:
        return not self.lines


_HUNK = re.compile(r"^@@ -(\d+)(?:,\d+)? \+(\d+)(?:,\d+)? @@")


@lru_cache(maxsize=32)
def unified_diff(old: str, new: str, old_label: str, new_label: str, context: int = 3) -> Diff:
    """difflib's unified diff of two sources, each line typed for styling and numbered."""
    raw = difflib.unified_diff(
        old.splitlines(), new.splitlines(), old_label, new_label, n=context, lineterm=""
    )
    lines: list[DiffLine] = []
    added = removed = old_no = new_no = 0
    for i, text in enumerate(raw):
        if i < 2:  # the "--- old" and "+++ new" header
            lines.append(DiffLine("meta", text))
        elif m := _HUNK.match(text):
            old_no, new_no = int(m.group(1)), int(m.group(2))
            lines.append(DiffLine("hunk", text))
        elif text.startswith("+"):
            lines.append(DiffLine("add", text[1:], None, new_no))
            new_no, added = new_no + 1, added + 1
        elif text.startswith("-"):
            lines.append(DiffLine("del", text[1:], old_no, None))
            old_no, removed = old_no + 1, removed + 1
        else:
            lines.append(DiffLine("ctx", text[1:], old_no, new_no))
            old_no, new_no = old_no + 1, new_no + 1
    return Diff(lines, added, removed)


# [label](https://...) as README tables write them, or a bare http(s) URL. Nothing else
# becomes a link: `javascript:`, `data:` and friends stay text.
_LINK = re.compile(
    r"\[([^\]\n]{1,300})\]\((https?://[^\s()<>\"']{1,2000})\)|(https?://[^\s<>\"']+)"
)


def linkify(text: str | None) -> Markup:
    """Text escaped, with markdown-style and bare http(s) links turned into anchors."""
    if not text:
        return Markup("")
    out: list[Markup] = []
    pos = 0
    for m in _LINK.finditer(text):
        out.append(escape(text[pos : m.start()]))
        label, url = (m.group(1), m.group(2)) if m.group(2) else (m.group(3), m.group(3))
        trail = ""
        if not m.group(2):  # a bare URL does not swallow the sentence's punctuation
            stripped = url.rstrip(".,;:!?")
            trail, url, label = url[len(stripped) :], stripped, stripped
        out.append(
            Markup('<a href="{}" rel="nofollow noopener noreferrer">{}</a>{}').format(
                url, label, trail
            )
        )
        pos = m.end()
    out.append(escape(text[pos:]))
    return Markup("").join(out)


def http_url(url: str | None) -> str | None:
    """The URL when it is http(s), else None: links from imported READMEs are untrusted."""
    if url and re.match(r"https?://[^\s<>\"']+$", url.strip(), re.IGNORECASE):
        return url.strip()
    return None
