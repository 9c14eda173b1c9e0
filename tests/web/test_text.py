"""web.text: untrusted text on the pages: highlighted source and diffs escaped and numbered,
only http(s) links made clickable, `javascript:` and markup left as inert text."""

from __future__ import annotations

from markupsafe import Markup

from web.text import highlight_python, http_url, linkify, unified_diff


def test_highlighted_source_has_one_numbered_line_per_line_and_escapes_markup() -> None:
    html = highlight_python("x = '<script>alert(1)</script>'\ny = 2\n")
    assert isinstance(html, Markup)
    assert html.count('<span class="ln" id="L') == 2
    assert 'id="L1"' in html and 'id="L2"' in html
    assert "<script>" not in html and "&lt;script&gt;" in html


def test_diffs_are_typed_numbered_and_counted() -> None:
    old = "a\nb\nc\n"
    new = "a\nB\nc\nd\n"
    diff = unified_diff(old, new, "old.py", "new.py")
    assert (diff.added, diff.removed) == (2, 1)
    kinds = [(line.kind, line.text, line.old_no, line.new_no) for line in diff.lines]
    assert kinds[:3] == [
        ("meta", "--- old.py", None, None),
        ("meta", "+++ new.py", None, None),
        ("hunk", "@@ -1,3 +1,4 @@", None, None),
    ]
    assert kinds[3:] == [
        ("ctx", "a", 1, 1),
        ("del", "b", 2, None),
        ("add", "B", None, 2),
        ("ctx", "c", 3, 3),
        ("add", "d", None, 4),
    ]
    assert unified_diff(old, old, "a", "b").empty


def test_only_http_links_become_anchors_and_everything_else_is_escaped() -> None:
    text = "see [log](https://x.org/a) or https://y.org/b. <img src=x onerror=alert(1)> [c](javascript:alert(1))"
    html = linkify(text)
    assert '<a href="https://x.org/a" rel="nofollow noopener noreferrer">log</a>' in html
    assert (
        '<a href="https://y.org/b" rel="nofollow noopener noreferrer">https://y.org/b</a>.' in html
    )
    assert "<img" not in html and "&lt;img" in html
    assert 'href="javascript' not in html and html.count("<a ") == 2
    assert linkify(None) == ""


def test_http_url_refuses_other_schemes_and_embedded_markup() -> None:
    assert http_url(" https://example.org/x ") == "https://example.org/x"
    assert http_url("HTTP://EXAMPLE.ORG") == "HTTP://EXAMPLE.ORG"
    for bad in ("javascript:alert(1)", "data:text/html,x", 'https://a.org/"><script>', "", None):
        assert http_url(bad) is None
