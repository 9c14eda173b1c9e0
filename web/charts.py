"""Server-rendered SVG charts (no JavaScript): the record progression of a track (record time
against date, log scale, as a staircase like the speedrun's well-known plot) and val-loss
curves of several runs. Every text node is escaped; styling comes from classes in site.css
(the CSP forbids inline styles), so a chart is plain markup with a <title> and <desc>.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta

from markupsafe import Markup

W, H = 720, 340  # the viewBox; the SVG scales to its container
LEFT, RIGHT, TOP, BOTTOM = 76, 20, 14, 46
MAX_MARKERS = 300  # beyond this, the staircase alone (a marker per record bloats the page)
MAX_TITLED_LINES = 60  # beyond this, lines_svg merges its lines into one path per colour


@dataclass(frozen=True)
class Scale:
    lo: float
    hi: float
    a: float  # pixel of lo
    b: float  # pixel of hi
    log: bool = False

    def __call__(self, v: float) -> float:
        if self.log:
            v, lo, hi = math.log10(v), math.log10(self.lo), math.log10(self.hi)
        else:
            lo, hi = self.lo, self.hi
        return self.a + (v - lo) / (hi - lo) * (self.b - self.a)


def nice_ticks(lo: float, hi: float, count: int = 5) -> list[float]:
    """Round numbers (1, 2, 5 x 10^k apart) covering [lo, hi]."""
    span = hi - lo
    raw = span / max(count, 1)
    mag = 10 ** math.floor(math.log10(raw))
    step = next(m * mag for m in (1, 2, 5, 10) if m * mag >= raw)
    first = math.ceil(lo / step - 1e-9) * step
    return [round(first + i * step, 12) for i in range(int((hi - first) / step + 1e-9) + 1)]


def log_ticks(lo: float, hi: float) -> list[float]:
    """1-2-5 ticks per decade inside [lo, hi]: powers of ten alone when that is too many,
    1-1.5-2-3-5-7 when too few."""
    decades = range(math.floor(math.log10(lo)), math.ceil(math.log10(hi)) + 1)

    def ticks(ms: tuple[float, ...]) -> list[float]:
        return [m * 10.0**d for d in decades for m in ms if lo <= m * 10.0**d <= hi]

    found = ticks((1, 2, 5))
    if len(found) > 9:
        found = ticks((1,))
    elif len(found) < 3:
        found = ticks((1, 1.5, 2, 3, 5, 7))
    return found or [lo, hi]


# Durations a reader counts in: seconds, minutes, hours.
_NICE_S = [0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5, 10, 15, 20, 30, 60, 90, 120, 180, 300]
_NICE_S += [600, 900, 1200, 1800, 2700, 3600, 7200, 10800, 21600, 43200, 86400]


def duration_ticks(lo: float, hi: float) -> list[float]:
    """Ticks in seconds at round durations (30 s, 1 min, 5 min, 45 min), at most 7, spread
    evenly on a log axis."""
    inside = [t for t in _NICE_S if lo <= t <= hi]
    if len(inside) < 3:
        return sorted(set(inside) | set(log_ticks(lo, hi)))
    if len(inside) <= 7:
        return inside
    step = math.log(hi / lo) / 6
    picked: list[float] = []
    for t in inside:
        if not picked or math.log(t / picked[-1]) >= step * 0.8:
            picked.append(t)
    return picked


_STEPS_S = [1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600]
_STEPS_S += [43200, 86400, 2 * 86400, 7 * 86400, 14 * 86400]


def time_ticks(lo: datetime, hi: datetime, count: int = 6) -> tuple[list[datetime], str]:
    """Date ticks over [lo, hi] and the strftime format to label them with."""
    span_s = (hi - lo).total_seconds()
    if span_s > 60 * 86400:
        months = next(k for k in (1, 2, 3, 6, 12, 24, 60) if span_s / (k * 30.44 * 86400) <= count)
        t = datetime(lo.year, lo.month, 1, tzinfo=lo.tzinfo)
        ticks = []
        while t <= hi:
            if t >= lo and (t.month - 1) % months == 0:
                ticks.append(t)
            t = datetime(t.year + t.month // 12, t.month % 12 + 1, 1, tzinfo=lo.tzinfo)
        return ticks, "%Y" if months >= 12 else "%Y-%m"
    step = next((s for s in _STEPS_S if span_s / s <= count), _STEPS_S[-1])
    epoch = datetime(1970, 1, 1, tzinfo=lo.tzinfo)
    first = math.ceil((lo - epoch).total_seconds() / step) * step
    ticks = [epoch + timedelta(seconds=first + i * step) for i in range(int(span_s / step) + 2)]
    fmt = "%Y-%m-%d" if step >= 86400 else ("%H:%M" if step >= 60 else "%H:%M:%S")
    return [t for t in ticks if lo <= t <= hi], fmt


def _num(v: float) -> str:
    return f"{v:.1f}"


def _svg_open(chart_id: str, title: str, desc: str, css: str) -> Markup:
    return Markup(
        '<svg class="chart {css}" viewBox="0 0 {w} {h}" role="img" '
        'aria-labelledby="{id}-t {id}-d" xmlns="http://www.w3.org/2000/svg">'
        '<title id="{id}-t">{title}</title><desc id="{id}-d">{desc}</desc>'
    ).format(css=css, w=W, h=H, id=chart_id, title=title, desc=desc)


def _axes(
    x_ticks: Sequence[tuple[float, str]],
    y_ticks: Sequence[tuple[float, str]],
    x_label: str,
    y_label: str,
) -> Markup:
    """Grid, tick labels and axis titles; tick positions are already in pixels."""
    parts = [Markup('<g class="grid">')]
    for y, text in y_ticks:
        parts.append(
            Markup('<line x1="{}" x2="{}" y1="{y}" y2="{y}"/>').format(LEFT, W - RIGHT, y=_num(y))
        )
        parts.append(
            Markup('<text class="yt" x="{}" y="{}">{}</text>').format(LEFT - 6, _num(y + 4), text)
        )
    for x, text in x_ticks:
        parts.append(
            Markup('<line x1="{x}" x2="{x}" y1="{}" y2="{}"/>').format(TOP, H - BOTTOM, x=_num(x))
        )
        parts.append(
            Markup('<text class="xt" x="{}" y="{}">{}</text>').format(
                _num(x), H - BOTTOM + 16, text
            )
        )
    parts.append(Markup("</g>"))
    parts.append(
        Markup('<text class="axis" x="{}" y="{}">{}</text>').format(
            (LEFT + W - RIGHT) / 2, H - 8, x_label
        )
    )
    parts.append(
        Markup('<text class="axis" transform="translate(12 {}) rotate(-90)">{}</text>').format(
            (TOP + H - BOTTOM) / 2, y_label
        )
    )
    return Markup("").join(parts)


@dataclass(frozen=True)
class ProgressPoint:
    at: datetime
    value: float  # seconds, or steps
    label: str
    current: bool = False


def _date_scale(points: Sequence[ProgressPoint]) -> tuple[Scale, datetime, datetime]:
    lo, hi = min(p.at for p in points), max(p.at for p in points)
    pad = max((hi - lo) * 0.04, timedelta(minutes=1))
    lo, hi = lo - pad, hi + pad
    epoch = datetime(1970, 1, 1, tzinfo=lo.tzinfo)
    scale = Scale((lo - epoch).total_seconds(), (hi - epoch).total_seconds(), LEFT, W - RIGHT)
    return scale, lo, hi


def _x_of(scale: Scale, at: datetime) -> float:
    return scale((at - datetime(1970, 1, 1, tzinfo=at.tzinfo)).total_seconds())


def progression_svg(
    points: Sequence[ProgressPoint],
    *,
    chart_id: str,
    title: str,
    desc: str,
    y_label: str,
    y_format: Callable[[float], str],
    y_ticks: Callable[[float, float], list[float]] = log_ticks,
) -> Markup:
    """The record staircase: the best value so far, held from each record's date until a
    better one, on a log scale; a marker (with a tooltip) per record, hollow and grey for
    results that did not improve on the best; the current record stands out."""
    pts = sorted((p for p in points if p.value > 0), key=lambda p: p.at)
    if not pts:
        return Markup("")
    pts = [p if p.at.tzinfo else replace(p, at=p.at.replace(tzinfo=UTC)) for p in pts]
    xs, lo_at, hi_at = _date_scale(pts)
    vmin, vmax = min(p.value for p in pts), max(p.value for p in pts)
    lo, hi = vmin / 1.25, vmax * 1.25
    ys = Scale(lo, hi, H - BOTTOM, TOP, log=True)
    date_ticks, fmt = time_ticks(lo_at, hi_at)
    out = [_svg_open(chart_id, title, desc, "progression")]
    out.append(
        _axes(
            [(_x_of(xs, t), t.strftime(fmt)) for t in date_ticks],
            [(ys(v), y_format(v)) for v in y_ticks(lo, hi)],
            "date the record was set",
            y_label,
        )
    )
    best, path, improved = math.inf, [], []
    for p in pts:
        improved.append(p.value < best)
        if p.value < best:
            x, y = _num(_x_of(xs, p.at)), _num(ys(p.value))
            path.append(f"M{x} {y}" if best == math.inf else f"H{x}V{y}")
            best = p.value
    path.append(f"H{W - RIGHT}")
    out.append(Markup('<path class="stair" d="{}"/>').format("".join(path)))
    if len(pts) <= MAX_MARKERS:
        out.extend(
            _marker(p, _x_of(xs, p.at), ys(p.value), y_format, best=b)
            for p, b in zip(pts, improved, strict=True)
        )
    out.append(Markup("</svg>"))
    return Markup("").join(out)


def _marker(
    p: ProgressPoint, x: float, y: float, y_format: Callable[[float], str], *, best: bool
) -> Markup:
    tip = f"{p.label}: {y_format(p.value)} ({p.at.strftime('%Y-%m-%d')})"
    css = "pt cur" if p.current else ("pt" if best else "pt other")
    return Markup('<circle class="{}" cx="{}" cy="{}" r="{}"><title>{}</title></circle>').format(
        css, _num(x), _num(y), 6 if p.current else 3.5, tip
    )


@dataclass(frozen=True)
class Series:
    label: str
    points: tuple[tuple[float, float], ...]  # (x, y)


def lines_svg(
    series: Sequence[Series],
    *,
    chart_id: str,
    title: str,
    desc: str,
    x_label: str,
    y_label: str,
    x_format: Callable[[float], str],
    target: float | None = None,
) -> Markup:
    """One polyline per series (classes series0..7 colour and dash them), a dashed target line."""
    drawn = [s for s in series if s.points]
    if not drawn:
        return Markup("")
    all_x = [x for s in drawn for x, _ in s.points]
    all_y = [y for s in drawn for _, y in s.points] + ([target] if target is not None else [])
    x_hi = max(all_x) or 1.0
    y_lo, y_hi = min(all_y), max(all_y)
    if y_hi - y_lo < 1e-9:
        y_lo, y_hi = y_lo - 0.5, y_hi + 0.5
    y_pad = (y_hi - y_lo) * 0.05
    xs = Scale(min(0.0, min(all_x)), x_hi, LEFT, W - RIGHT)
    ys = Scale(y_lo - y_pad, y_hi + y_pad, H - BOTTOM, TOP)
    out = [_svg_open(chart_id, title, desc, "lines")]
    x_ticks = [(xs(v), x_format(v)) for v in nice_ticks(xs.lo, xs.hi) if v >= xs.lo]
    y_ticks = [(ys(v), f"{v:g}") for v in nice_ticks(ys.lo, ys.hi)]
    out.append(_axes(x_ticks, y_ticks, x_label, y_label))
    if target is not None:
        out.append(
            Markup('<line class="target" x1="{}" x2="{}" y1="{y}" y2="{y}"/>').format(
                LEFT, W - RIGHT, y=_num(ys(target))
            )
        )
        out.append(
            Markup('<text class="target-label" x="{}" y="{}">target {:g}</text>').format(
                W - RIGHT - 4, _num(ys(target) - 5), target
            )
        )
    if len(drawn) > MAX_TITLED_LINES:
        out.extend(_merged_lines(drawn, xs, ys))
    for i, s in enumerate(drawn if len(drawn) <= MAX_TITLED_LINES else ()):
        coords = " ".join(f"{_num(xs(x))},{_num(ys(y))}" for x, y in s.points)
        out.append(
            Markup('<polyline class="series{}" points="{}"><title>{}</title></polyline>').format(
                i % 8, coords, s.label
            )
        )
    out.append(Markup("</svg>"))
    return Markup("").join(out)


def _merged_lines(drawn: Sequence[Series], xs: Scale, ys: Scale) -> list[Markup]:
    """Every line still drawn, as one path per colour (a subpath per series): past
    MAX_TITLED_LINES a title and an element per line would outweigh the lines themselves."""
    paths = []
    for colour in range(8):
        d = "".join(
            "M" + " ".join(f"{_num(xs(x))} {_num(ys(y))}" for x, y in s.points)
            for s in drawn[colour::8]
        )
        if d:
            paths.append(Markup('<path class="series{} merged" d="{}"/>').format(colour, d))
    return paths


LOG_RANGE = (1e-100, 1e100)  # what a log axis takes: its padded ends stay finite, nonzero


def _on_log_axis(v: float) -> bool:
    return LOG_RANGE[0] <= v <= LOG_RANGE[1]


@dataclass(frozen=True)
class Point:
    x: float
    y: float
    label: str
    current: bool = False


def scatter_svg(
    points: Sequence[Point],
    *,
    chart_id: str,
    title: str,
    desc: str,
    x_label: str,
    y_label: str,
    x_format: Callable[[float], str],
    y_format: Callable[[float], str],
) -> Markup:
    """One marker per point (with a tooltip) on log-log axes: the board's time against
    training compute, where records differ by orders of magnitude on both."""
    pts = [p for p in points if _on_log_axis(p.x) and _on_log_axis(p.y)]
    if not pts:
        return Markup("")
    x_lo, x_hi = min(p.x for p in pts) / 1.5, max(p.x for p in pts) * 1.5
    y_lo, y_hi = min(p.y for p in pts) / 1.25, max(p.y for p in pts) * 1.25
    xs = Scale(x_lo, x_hi, LEFT, W - RIGHT, log=True)
    ys = Scale(y_lo, y_hi, H - BOTTOM, TOP, log=True)
    out = [_svg_open(chart_id, title, desc, "scatter")]
    out.append(
        _axes(
            [(xs(v), x_format(v)) for v in log_ticks(x_lo, x_hi)],
            [(ys(v), y_format(v)) for v in duration_ticks(y_lo, y_hi)],
            x_label,
            y_label,
        )
    )
    for p in pts[:MAX_MARKERS]:
        tip = f"{p.label}: {y_format(p.y)} at {x_format(p.x)}"
        out.append(
            Markup('<circle class="{}" cx="{}" cy="{}" r="{}"><title>{}</title></circle>').format(
                "pt cur" if p.current else "pt",
                _num(xs(p.x)),
                _num(ys(p.y)),
                6 if p.current else 4,
                tip,
            )
        )
    out.append(Markup("</svg>"))
    return Markup("").join(out)
