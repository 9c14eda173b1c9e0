"""Parse the record tables of modded-nanogpt's READMEs into typed rows.

The main README holds the main track ("World record history", times in minutes) and the
GPT-2 Medium track (hours or minutes, a `*` footnote on some times); the optimization track's
table ("Steps to 3.28", with an evidence column) lives in `records/track_3_optimization/
README.md`, whose links are relative to that folder: pass `base_dir` to resolve them.

The Markdown is hand-edited and untidy: most rows have no leading `|`, the log cell may be
`none`, `-`, a PR link, a folder, or several links; a record number repeats for re-timings;
dates are `MM/DD/YY` or `YYYY/MM/DD`. Rows that cannot be read are kept in `problems`.

A checkout's README is text from outside, so every pattern here is linear in its line: none
has two unbounded quantifiers that can match the same characters, possessive quantifiers
(`*+`, `++`, Python 3.11) keep whitespace runs from being rescanned, links are found by a
scanner rather than a regex retried from every `[`, and the target is looked for in the text
since the table's heading or the table before it, not from the heading again for each table
of a section (`tests/speedrun/test_logparse_hostile.py` times them).
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import date, datetime

__all__ = ["Link", "RecordRow", "TrackTable", "parse_readme"]

_REPO_URL_RE = re.compile(r"^https?://github\.com/KellerJordan/modded-nanogpt/(?:blob|tree)/[^/]+/")
# A link's "(url)" after its "]": the URL run, then the ")" if the run stopped at one.
_LINK_URL_RE = re.compile(r"\(([^)\s]*+)(\)?)")
_CELL_SPLIT_RE = re.compile(r"(?<!\\)\|")
_SEPARATOR_ROW_RE = re.compile(r"^\|?+\s*+:?+-++:?+\s*+(?:\|\s*+:?+-++:?+\s*+)++\|?+\s*+$")
_HEADING_RE = re.compile(r"^(#{1,6})\s+(.*)")  # group 2 is right-stripped by the caller
_ROW_START_RE = re.compile(r"^\s*+\|?+\s*+\d++\s*+\|")
_DURATION_RE = re.compile(
    r"^(\d+(?:\.\d+)?)\s*(hours?|hrs?|h|minutes?|mins?|m|seconds?|secs?|s)\b\s*(.*)$"
)
_UNIT_SECONDS = {"h": 3600.0, "m": 60.0, "s": 1.0}
_STEPS_RE = re.compile(r"^(\d+)\s*(\(!\))?")
# (?<!\d): a search retried inside a run of digits rescanned the run (quadratic); the
# leftmost match starts at a run's first digit anyway
_EVIDENCE_RE = re.compile(r"(?<!\d)(\d+\.\d+)\s*\(n=(\d+)\)\s*(\S*)")
_HANDLE_RE = re.compile(r"(?<![\w/])@[\w.\-]*\w")
_TARGET_RES = (
    re.compile(r"lowered from \d\.\d+ to (\d\.\d+)"),
    re.compile(r"≤\s*(\d\.\d+)"),
    re.compile(r"(?:Steps|steps) to (\d\.\d+)"),
    re.compile(r"attains? (\d\.\d+) (?:cross-entropy |validation |val )?loss"),
)


@dataclass(frozen=True)
class Link:
    text: str
    url: str  # as written
    path: str | None  # repository-relative path when the link points into the repository

    @property
    def is_pr(self) -> bool:
        return "/pull/" in self.url


@dataclass(frozen=True)
class RecordRow:
    track: str  # "main", "medium", "optimization", or a slug of the section heading
    number: int
    time_text: str  # the claim as written: "31.4 minutes", "5.8 hours", "3600(!)"
    time_s: float | None  # the claimed time in seconds, for wall-clock tracks
    steps: int | None  # the claimed step count, for the optimization track
    is_world_record: bool | None  # the optimization track's "(!)" marker
    note_marker: str  # trailing footnote marker on the time, e.g. "*"
    description: str  # plain text, links reduced to their text
    description_links: tuple[Link, ...]
    date: date | None
    contributors_text: str
    contributors: tuple[str, ...]  # the @handles named in the contributors cell
    log_cell: str
    log_links: tuple[Link, ...]  # links to logs or folders (PR links excluded)
    pr_url: str | None
    is_retiming: bool  # the number repeats an earlier row: a re-timing, not a new record
    evidence_val_loss: float | None = None  # optimization track: "3.2790 (n=20)✓"
    evidence_runs: int | None = None
    evidence_ok: bool | None = None
    line_no: int = 0

    @property
    def time_ms(self) -> float | None:
        return None if self.time_s is None else self.time_s * 1000.0

    @property
    def log_paths(self) -> tuple[str, ...]:
        return tuple(link.path for link in self.log_links if link.path is not None)


@dataclass(frozen=True)
class TrackTable:
    track: str
    heading: str
    target_val_loss: float | None
    time_units: tuple[str, ...]  # units the time column uses: "hours", "minutes", "steps"
    columns: tuple[str, ...]
    rows: tuple[RecordRow, ...]
    problems: tuple[str, ...] = ()

    @property
    def records_dir(self) -> str | None:
        """The `records/<track>` folder most of the table's log links point into."""
        dirs = [p.split("/")[:2] for r in self.rows for p in r.log_paths]
        named = ["/".join(d) for d in dirs if len(d) == 2 and d[0] == "records"]
        return max(set(named), key=named.count) if named else None


def parse_readme(text: str, *, base_dir: str = "") -> list[TrackTable]:
    """Every record table in a README, in order. `base_dir` is the README's folder relative
    to the repository root (e.g. "records/track_3_optimization"), used to resolve links."""
    lines = text.splitlines()
    tables: list[TrackTable] = []
    heading, section_start, after_table = "", 0, 0
    i = 0
    while i < len(lines):
        m = _HEADING_RE.match(lines[i])
        if m:
            heading, section_start = m.group(2).rstrip(), i
        if _is_table_header(lines, i):
            # the text since the heading or the table before: each line is searched once
            context = "\n".join(lines[max(section_start, after_table) : i])
            table, i = _parse_table(lines, i, heading, context, base_dir)
            if table.target_val_loss is None and tables and after_table > section_start:
                table = replace(table, target_val_loss=tables[-1].target_val_loss)
            tables.append(table)
            after_table = i
            continue
        i += 1
    return tables


def _is_table_header(lines: list[str], i: int) -> bool:
    if i + 1 >= len(lines) or not _SEPARATOR_ROW_RE.match(lines[i + 1].strip()):
        return False
    cells = [c.lower() for c in _split_cells(lines[i])]
    return bool(cells) and cells[0] == "#" and any("time" in c or "steps" in c for c in cells)


def _split_cells(line: str) -> list[str]:
    stripped = line.strip()
    stripped = stripped[1:] if stripped.startswith("|") else stripped
    stripped = (
        stripped[:-1] if stripped.endswith("|") and not stripped.endswith("\\|") else stripped
    )
    return [cell.strip() for cell in _CELL_SPLIT_RE.split(stripped)]


def _parse_table(
    lines: list[str], start: int, heading: str, context: str, base_dir: str
) -> tuple[TrackTable, int]:
    columns = tuple(_split_cells(lines[start]))
    track = _track_name(heading, columns)
    rows: list[RecordRow] = []
    problems: list[str] = []
    seen: set[int] = set()
    i = start + 2
    while i < len(lines) and _ROW_START_RE.match(lines[i]):
        try:
            row = _parse_row(lines[i], i + 1, track, columns, base_dir, seen)
        except ValueError as exc:
            problems.append(f"line {i + 1}: {exc}")
        else:
            rows.append(row)
            seen.add(row.number)
        i += 1
    units = sorted({_time_unit(r.time_text) for r in rows} - {""})
    table = TrackTable(
        track=track,
        heading=heading,
        target_val_loss=_find_target(context + "\n" + " ".join(columns)),
        time_units=tuple(units),
        columns=columns,
        rows=tuple(rows),
        problems=tuple(problems),
    )
    return table, i


def _track_name(heading: str, columns: tuple[str, ...]) -> str:
    lowered = heading.lower()
    if any(c.lower().startswith("steps") for c in columns):
        return "optimization"
    if "medium" in lowered or "track 2" in lowered:
        return "medium"
    if "world record" in lowered:
        return "main"
    return re.sub(r"[^a-z0-9]+", "-", lowered).strip("-") or "table"


def _find_target(context: str) -> float | None:
    for rx in _TARGET_RES:
        m = rx.search(context)
        if m:
            return float(m.group(1))
    return None


def _cell(cells: list[str], columns: tuple[str, ...], *names: str) -> str:
    for index, column in enumerate(columns):
        if any(column.lower().startswith(n) for n in names) and index < len(cells):
            return cells[index]
    return ""


def _parse_row(
    line: str, line_no: int, track: str, columns: tuple[str, ...], base_dir: str, seen: set[int]
) -> RecordRow:
    cells = _fit_cells(_split_cells(line), columns)
    number = int(cells[0])
    time_text = _cell(cells, columns, "record time", "time", "steps")
    time_s, note = _parse_duration(time_text)
    steps_m = _STEPS_RE.match(time_text) if time_s is None else None
    description = _cell(cells, columns, "description")
    log_cell = _cell(cells, columns, "log")
    log_links = _links(log_cell, base_dir)
    contributors = _cell(cells, columns, "contributors")
    # the PR is linked from the log cell, or (optimization track) "[PR](..) by @x"
    pr_candidates = log_links + _links(contributors, base_dir)
    evidence = _EVIDENCE_RE.search(_cell(cells, columns, "evidence"))
    if time_s is None and steps_m is None:
        raise ValueError(f"record {number}: unreadable time {time_text!r}")
    return RecordRow(
        track=track,
        number=number,
        time_text=time_text,
        time_s=time_s,
        steps=int(steps_m.group(1)) if steps_m else None,
        is_world_record=bool(steps_m.group(2)) if steps_m else None,
        note_marker=note,
        description=_strip_links(description).strip(),
        description_links=_links(description, base_dir),
        date=_parse_date(_cell(cells, columns, "date")),
        contributors_text=_strip_links(contributors).strip(),
        contributors=tuple(dict.fromkeys(_HANDLE_RE.findall(contributors))),
        log_cell=log_cell,
        log_links=tuple(link for link in log_links if not link.is_pr),
        pr_url=next((link.url for link in pr_candidates if link.is_pr), None),
        is_retiming=number in seen or "re-timing" in contributors.lower(),
        evidence_val_loss=float(evidence.group(1)) if evidence else None,
        evidence_runs=int(evidence.group(2)) if evidence else None,
        evidence_ok=(evidence.group(3).startswith("✓") if evidence and evidence.group(3) else None),
        line_no=line_no,
    )


def _fit_cells(cells: list[str], columns: tuple[str, ...]) -> list[str]:
    """Pad short rows; fold surplus cells (a stray `|` in the text) into the description."""
    if len(cells) > len(columns):
        d = next((i for i, c in enumerate(columns) if c.lower() == "description"), 2)
        extra = len(cells) - len(columns)
        cells = [*cells[:d], " | ".join(cells[d : d + extra + 1]), *cells[d + extra + 1 :]]
    return cells + [""] * (len(columns) - len(cells))


def _parse_duration(text: str) -> tuple[float | None, str]:
    m = _DURATION_RE.match(text.strip())
    if not m:
        return None, ""
    return float(m.group(1)) * _UNIT_SECONDS[m.group(2)[0]], m.group(3).strip()


def _time_unit(text: str) -> str:
    m = _DURATION_RE.match(text.strip())
    if m:
        return {"h": "hours", "m": "minutes", "s": "seconds"}[m.group(2)[0]]
    return "steps" if _STEPS_RE.match(text.strip()) else ""


def _parse_date(text: str) -> date | None:
    for fmt in ("%m/%d/%y", "%Y/%m/%d", "%Y-%m-%d", "%m/%d/%Y"):
        try:
            return datetime.strptime(text.strip(), fmt).date()
        except ValueError:
            continue
    return None


def _links(cell: str, base_dir: str) -> tuple[Link, ...]:
    return tuple(
        Link(text=text, url=url, path=_repo_path(url, base_dir))
        for _, _, text, url in _find_links(cell)
    )


def _strip_links(cell: str) -> str:
    """The cell with each Markdown link reduced to its text."""
    parts: list[str] = []
    pos = 0
    for start, end, text, _ in _find_links(cell):
        parts += [cell[pos:start], text]
        pos = end
    return "".join(parts) + cell[pos:]


def _find_links(cell: str) -> Iterator[tuple[int, int, str, str]]:
    """(start, end, text, url) of what `re.finditer(r"\\[([^\\]]*)\\]\\(([^)\\s]*)\\)", cell)`
    finds, in linear time. That regex retries from every `[` before the same `]` and rescans a
    URL from every `](` inside it (quadratic on `[[[...` or `[](...`); here each `]` is tried
    once, and no `](` whose URL would stop where a failed one stopped is tried at all."""
    pos = url_dead_end = 0
    while (start := cell.find("[", pos)) >= 0 and (close := cell.find("]", start)) >= 0:
        pos = close + 1
        if close + 2 <= url_dead_end:  # its URL run would end at the same space or the end
            continue
        m = _LINK_URL_RE.match(cell, close + 1)
        if m and m.group(2):
            yield start, m.end(), cell[start + 1 : close], m.group(1)
            pos = m.end()
        elif m:
            url_dead_end = m.end()


def _repo_path(url: str, base_dir: str) -> str | None:
    """The repository-relative path a link points to, or None for external/anchor links."""
    in_repo = _REPO_URL_RE.match(url)
    if in_repo:  # an absolute link into the repository is relative to its root
        url, base_dir = url[in_repo.end() :], ""
    if not url or url.startswith("#") or re.match(r"^[a-z][a-z0-9+.\-]*:", url, re.I):
        return None
    url = url.split("#", 1)[0].split("?", 1)[0]
    joined = url.lstrip("/") if url.startswith("/") else posixpath.join(base_dir, url)
    path = posixpath.normpath(joined).rstrip("/")
    return None if path.startswith("..") else path
