"""The same-site links of a page, as a browser would follow them: `href` and `src`
attributes, every choice of a GET form (its hidden fields and each option of its selects,
serialized in document order as a browser submits them), and the `*url` fields of a JSON
answer. Only our own templates and answers are read, so attributes are double-quoted; values
are HTML-unescaped, fragments dropped, absolute URLs on the site's own origin made paths,
and everything off the site ignored.

Links people wrote (a description's URLs, which `web.text.linkify` marks `rel="nofollow"`)
are never followed, as a search engine's crawler would not: a submitter could otherwise
point the crawl at any same-site URL, with a query no file name can hold or at a 64 MB
bundle. An Atom feed's links are its `<link>` elements only, never text that happens to
read like an attribute.
"""

from __future__ import annotations

import html
import itertools
import json
import re
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlencode, urljoin, urlsplit

TAG = re.compile(r"<[a-zA-Z][^>]*>")
FEED_LINK = re.compile(r"<link\b[^>]*>")
FORM = re.compile(r"<form\b([^>]*)>(.*?)</form>", re.DOTALL | re.IGNORECASE)
CONTROL = re.compile(r"<input\b([^>]*)>|<select\b([^>]*)>(.*?)</select>", re.DOTALL)
OPTION = re.compile(r"<option\b([^>]*)>", re.IGNORECASE)
ATTR = re.compile(r'([a-zA-Z-]+)="([^"]*)"')
MAX_FORM_CHOICES = 64
# The API's own link fields. A run's manifest and an imported record's README links are
# other people's text (README links are relative to that repository), so never followed.
URL_FIELDS = frozenset(
    {"url", "page_url", "leaderboard_url", "source_url", "bundle_url", "attempt_url"}
)
FOREIGN = frozenset({"manifest", "imported"})


def same_site(link: str, page_url: str, base: str) -> str | None:
    """`link` (as found on the page at `page_url`) as a site path with its query, or None
    when it leads off the site (another origin, another scheme, mailto:, javascript:)."""
    absolute = urljoin(base.rstrip("/") + page_url, link.strip())
    parts, site = urlsplit(absolute), urlsplit(base)
    if (parts.scheme, parts.netloc) != (site.scheme, site.netloc):
        return None
    path = parts.path or "/"
    return path + (f"?{parts.query}" if parts.query else "")


def html_links(text: str) -> Iterator[str]:
    """Every href/src value of a tag not marked nofollow, then every URL a GET form can
    submit."""
    for tag in TAG.finditer(text):
        yield from _tag_links(tag.group(0))
    for attrs, body in FORM.findall(text):
        yield from form_urls(_attrs(attrs), body)


def feed_links(text: str) -> Iterator[str]:
    """The href of every `<link>` element of an Atom document (its text has `<` escaped, so
    no entry's words can open an element)."""
    for tag in FEED_LINK.finditer(text):
        yield from _tag_links(tag.group(0))


def _tag_links(tag: str) -> Iterator[str]:
    attrs = _attrs(tag)
    if "nofollow" in attrs.get("rel", "").lower().split():
        return
    for name in ("href", "src"):
        if name in attrs:
            yield attrs[name]


def _attrs(text: str) -> dict[str, str]:
    return {k.lower(): html.unescape(v) for k, v in ATTR.findall(text)}


def form_urls(form: dict[str, str], body: str) -> Iterator[str]:
    """The URLs a GET form submits: one per combination of its selects' options."""
    if form.get("method", "get").lower() != "get":
        return
    fields: list[list[tuple[str, str]]] = []  # each control's possible (name, value)
    for input_attrs, select_attrs, options in CONTROL.findall(body):
        if input_attrs:
            a = _attrs(input_attrs)
            if a.get("type", "text").lower() == "hidden" and "name" in a:
                fields.append([(a["name"], a.get("value", ""))])
        elif "name" in (s := _attrs(select_attrs)):
            values = [_attrs(o).get("value", "") for o in OPTION.findall(options)]
            fields.append([(s["name"], v) for v in values])
    action = form.get("action", "")
    for choice in itertools.islice(itertools.product(*fields), MAX_FORM_CHOICES):
        yield f"{action}?{urlencode(list(choice))}" if choice else action


def json_links(text: str) -> Iterator[str]:
    """The values of the API's link fields (`URL_FIELDS`) that are site paths."""
    try:
        data = json.loads(text)
    except ValueError:
        return
    yield from _url_fields(data)


def _url_fields(value: Any) -> Iterator[str]:
    if isinstance(value, dict):
        for key, item in value.items():
            if isinstance(item, str) and key in URL_FIELDS and item.startswith("/"):
                yield item
            elif key not in FOREIGN:
                yield from _url_fields(item)
    elif isinstance(value, list):
        for item in value:
            yield from _url_fields(item)
