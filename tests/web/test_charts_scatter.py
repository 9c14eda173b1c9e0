"""The log-log scatter (web.charts.scatter_svg) the track page draws time against training
FLOPs with, and the SI formatting of its figures (web.format.fmt_si / fmt_flops / fmt_pct)."""

from __future__ import annotations

import re

from web.charts import Point, scatter_svg
from web.format import fmt_duration_s, fmt_flops, fmt_pct, fmt_si


def _svg(points: list[Point]) -> str:
    return str(
        scatter_svg(
            points, chart_id="f", title="t <b>", desc="d", x_label="x", y_label="y",
            x_format=fmt_flops, y_format=fmt_duration_s,
        )
    )  # fmt: skip


def test_one_marker_per_usable_point_on_log_axes() -> None:
    svg = _svg(
        [
            Point(1e15, 180.0, "a"),
            Point(1e17, 60.0, "b <script>", current=True),
            Point(0.0, 10.0, "no compute"),
            Point(1e16, float("nan"), "no time"),
        ]
    )
    assert svg.count("<circle") == 2 and 'class="pt cur"' in svg
    assert "b &lt;script&gt;: 60 s at 100 PFLOP" in svg and "<script>" not in svg
    assert "t &lt;b&gt;" in svg
    xs = [float(x) for x in re.findall(r'<circle class="[^"]+" cx="([\d.]+)"', svg)]
    assert xs[0] < xs[1]  # more FLOPs further right


def test_no_usable_point_no_chart() -> None:
    assert _svg([]) == "" and _svg([Point(-1.0, 5.0, "x")]) == ""


def test_si_figures() -> None:
    assert fmt_flops(2.52e15) == "2.52 PFLOP" and fmt_flops(None) == "–"
    assert fmt_si(4.0e10, "FLOP/s") == "40 GFLOP/s" and fmt_si(12.0, "B/s") == "12 B/s"
    assert fmt_si(float("inf"), "B") == "–"
    assert fmt_pct(0.412) == "41.2%" and fmt_pct(0.0035) == "0.35%" and fmt_pct(None) == "–"
