"""What a detail page may weigh: each part of a record page that grows with its runs or its
code has a share, so the page stays under ~300 KB whatever the record holds. What is cut is
said on the page and stays whole elsewhere (the runs and their full loss series in the JSON
twins, the code as raw text, the whole log as text).

Shares, in bytes of HTML: the loss charts about 30 KB each (`CHART_POINTS` over all their
lines, thinned by `web.downsample.lttb_indices`); the runs table, legend and chart data at most
`RUNS_LISTED` rows; the highlighted code `CODE_BYTES`; the diff `DIFF_BYTES`; the log excerpt
`LOG_HEAD_BYTES` + `LOG_TAIL_BYTES`; the verification history `VERIFICATIONS_LISTED` rows.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
from markupsafe import Markup

from server.services.run_logs import LogExcerpt, ValPoint
from web.downsample import lttb_indices
from web.text import Diff

CHART_POINTS = 2400  # per chart, over all its lines (~11 bytes each)
MIN_CURVE_POINTS, MAX_CURVE_POINTS = 3, 400  # a line always has its start, end and a middle
RUNS_LISTED = 100
VERIFICATIONS_LISTED = 25
CODE_BYTES = 48_000
DIFF_BYTES = 36_000
DIFF_LINE_OVERHEAD = 120  # the markup around each diff line's text (numbers, classes)
LOG_HEAD_BYTES, LOG_TAIL_BYTES = 6_000, 12_000


def points_per_curve(n_curves: int) -> int:
    """How many points each of `n_curves` lines of one chart keeps."""
    share = CHART_POINTS // max(n_curves, 1)
    return max(MIN_CURVE_POINTS, min(MAX_CURVE_POINTS, share))


def thin_val(val: list[ValPoint], k: int) -> list[ValPoint]:
    """A run's val points thinned to `k` by LTTB over (step, loss): what both of its lines
    (against time and against tokens, each close to linear in the step) then draw, so the
    thousands of points of a long log are turned into lines once, not twice."""
    if len(val) <= k:
        return val
    steps = np.fromiter((p[0] for p in val), np.float64, len(val))
    losses = np.fromiter((p[1] for p in val), np.float64, len(val))
    return [val[i] for i in lttb_indices(steps, losses, k)]


def cut_lines(markup: Markup, max_bytes: int) -> tuple[Markup, int]:
    """The whole lines of `markup` (one per `\\n`, each closing what it opens, as
    `web.text.highlight_python` makes them) that fit in `max_bytes`, and how many."""
    if len(markup) <= max_bytes:
        return markup, markup.count("\n")
    kept, size = [], 0
    for line in str(markup).split("\n"):
        size += len(line) + 1
        if size > max_bytes:
            break
        kept.append(line + "\n")
    return Markup("".join(kept)), len(kept)


def cut_diff(diff: Diff, max_bytes: int) -> tuple[Diff, bool]:
    """The diff's first lines that fit in `max_bytes` of markup; True when some were cut."""
    size = 0
    for i, line in enumerate(diff.lines):
        size += len(line.text) + DIFF_LINE_OVERHEAD
        if size > max_bytes:
            return Diff(diff.lines[:i], diff.added, diff.removed), True
    return diff, False


def shorter_excerpt(log: LogExcerpt, head_bytes: int, tail_bytes: int) -> LogExcerpt:
    """The stored excerpt cut further, at line boundaries, for a page that links the rest."""
    if not log.cut and len(log.head) <= head_bytes + tail_bytes:
        return log
    tail_src = log.tail if log.cut else log.head  # uncut: the head is the whole log
    head = log.head[:head_bytes]
    head = head[: head.rfind("\n") + 1] or head
    tail = tail_src[-tail_bytes:]
    tail = tail[tail.find("\n") + 1 :] or tail
    omitted = log.total_bytes - len(head.encode("utf-8")) - len(tail.encode("utf-8"))
    return replace(log, head=head, tail=tail, omitted_bytes=max(omitted, 1))
