"""Where each live URL's answer lies in a snapshot, so that a plain static server finds it
without rewrites (the nginx configuration in deploy/nginx-snapshot.conf):

    /                              index.html
    /?hidden=1                     index@hidden=1.html
    /tracks/cpu-tiny?version=2     tracks/cpu-tiny/index@version=2.html
    /api/v1/records/7              api/v1/records/7/index.json
    /runs/ID/log.txt               runs/ID/log.txt              (a name with an extension)
    /api/v1/attempts/3/source      api/v1/attempts/3/source     (neither HTML nor JSON)

i.e. `$uri`, else `$uri/index@$args.html`, else `$uri/index@$args.json` (no `@$args` without
a query). The query string is kept as written in the link, so it must be one a file name can
hold: no `/` and nothing outside a small set of characters. Paths are percent-decoded as the
server decodes them; `.` and `..` segments, empty segments and names starting with a dot
(the publisher's own files) are refused.
"""

from __future__ import annotations

import re
from pathlib import PurePosixPath
from urllib.parse import unquote, urlsplit

QUERY_MARK = "@"
SAFE_QUERY = re.compile(r"^[A-Za-z0-9_.~=&%+,-]+$")
SAFE_SEGMENT = re.compile(r"^[^\x00-\x1f/\\]+$")
# A file name holds at most 255 bytes: `index@` + query + `.html` must fit, and so must a
# decoded path segment (in UTF-8, a character may take four).
MAX_NAME_BYTES = 200
# Names with these extensions are files in their own right (assets, logs, data, feeds).
FILE_EXTENSIONS = frozenset(
    {"css", "js", "svg", "txt", "json", "atom", "xml", "parquet", "gz", "md", "html", "ico", "png"}
)


class LayoutError(ValueError):
    """A URL no static file can stand for; the message says why."""


def split(url: str) -> tuple[list[str], str]:
    """The URL's decoded path segments and its raw query string (fragment dropped)."""
    parts = urlsplit(url)
    if parts.scheme or parts.netloc or not parts.path.startswith("/"):
        raise LayoutError(f"not a same-site absolute path: {url!r}")
    segments = [unquote(s) for s in parts.path.split("/")[1:]]
    if segments and segments[-1] == "":
        segments.pop()  # "/" and "/tracks/x/" name a folder's index
    for s in segments:
        bad = s in ("", ".", "..") or s.startswith(".") or not SAFE_SEGMENT.match(s)
        if bad or not _fits(s):
            raise LayoutError(f"path segment {s!r} of {url!r} cannot be a file name")
    if parts.query and not (SAFE_QUERY.match(parts.query) and _fits(parts.query)):
        raise LayoutError(f"query of {url!r} cannot be part of a file name")
    return segments, parts.query


def _fits(part: str) -> bool:
    return len(part.encode("utf-8", "surrogatepass")) <= MAX_NAME_BYTES


def is_file_name(segment: str) -> bool:
    stem, dot, ext = segment.rpartition(".")
    return bool(dot and stem and ext.lower() in FILE_EXTENSIONS)


def file_for(url: str, content_type: str) -> PurePosixPath:
    """The snapshot path (relative) of `url`'s answer, of media type `content_type`."""
    segments, query = split(url)
    kind = content_type.split(";")[0].strip().lower()
    if (segments and is_file_name(segments[-1])) or kind not in ("text/html", "application/json"):
        if query:
            raise LayoutError(f"{url!r}: a file's URL cannot carry a query on a static host")
        if not segments:
            raise LayoutError(f"{url!r}: the site's root must be a page")
        return PurePosixPath(*segments)
    suffix = (QUERY_MARK + query if query else "") + (".html" if kind == "text/html" else ".json")
    return PurePosixPath(*segments, "index" + suffix)


def candidates(url: str) -> list[PurePosixPath]:
    """Every path `url`'s answer may lie at, whatever its media type (for "is it there yet")."""
    segments, query = split(url)
    out = []
    if segments and not query:
        out.append(PurePosixPath(*segments))
    mark = QUERY_MARK + query if query else ""
    if not (segments and is_file_name(segments[-1])):
        out += [PurePosixPath(*segments, f"index{mark}{ext}") for ext in (".html", ".json")]
    return out


INDEX_FILE = re.compile(r"index(?:@(.+))?\.(?:html|json)")


def page_url(rel: PurePosixPath) -> str | None:
    """The URL whose answer the index file `rel` holds (None for any other file)."""
    match = INDEX_FILE.fullmatch(rel.name)
    if match is None:
        return None
    parent = rel.parent.as_posix()
    path = "/" if parent == "." else f"/{parent}"
    return path + (f"?{match.group(1)}" if match.group(1) else "")
