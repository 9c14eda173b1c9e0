"""web.charts: the SVG record staircase and loss curves: the staircase follows only
improvements, tick helpers give round values, and hostile labels stay escaped text."""

from __future__ import annotations

import re
from datetime import UTC, datetime

from web.charts import (
    MAX_MARKERS,
    ProgressPoint,
    Series,
    duration_ticks,
    lines_svg,
    log_ticks,
    nice_ticks,
    progression_svg,
    time_ticks,
)


def fmt(v: float) -> str:
    return f"{v:g} s"


def test_ticks_are_round_and_cover_the_range() -> None:
    assert nice_ticks(0.0, 10.0) == [0.0, 2.0, 4.0, 6.0, 8.0, 10.0]
    assert nice_ticks(2.91, 3.43) == [3.0, 3.2, 3.4]
    assert log_ticks(1.0, 1000.0) == [1.0, 10.0, 100.0, 1000.0]  # 1-2-5 would be 10 ticks
    assert log_ticks(2.0, 9.0) == [2.0, 3.0, 5.0, 7.0]  # 1-2-5 alone would be 2
    assert duration_ticks(30.0, 400.0) == [30, 60, 90, 120, 180, 300]
    ticks, form = time_ticks(datetime(2024, 1, 15, tzinfo=UTC), datetime(2024, 12, 20, tzinfo=UTC))
    assert form == "%Y-%m" and all(t.day == 1 for t in ticks) and len(ticks) <= 6


def test_the_staircase_steps_down_only_on_improvements() -> None:
    points = [
        ProgressPoint(datetime(2024, 1, 1), 300.0, "first"),
        ProgressPoint(datetime(2024, 2, 1), 400.0, "slower"),
        ProgressPoint(datetime(2024, 3, 1), 200.0, "best", current=True),
        ProgressPoint(datetime(2024, 4, 1), 0.0, "zero is dropped"),
    ]
    svg = progression_svg(points, chart_id="p", title="t", desc="d", y_label="time", y_format=fmt)
    path = re.search(r'<path class="stair" d="([^"]+)"/>', svg)
    assert path is not None
    assert path.group(1).count("M") == 1 and path.group(1).count("V") == 1
    assert svg.count('class="pt other"') == 1 and svg.count('class="pt cur"') == 1
    assert "zero is dropped" not in svg
    assert progression_svg([], chart_id="p", title="t", desc="d", y_label="y", y_format=fmt) == ""


def test_hostile_labels_and_titles_are_escaped() -> None:
    evil = '<script>alert("x")</script>'
    svg = lines_svg(
        [Series(evil, ((0.0, 4.0), (100.0, 3.1))), Series("empty", ())],
        chart_id='c"><x',
        title=evil,
        desc=evil,
        x_label=evil,
        y_label="loss",
        x_format=lambda v: f"{v:g}",
        target=3.28,
    )
    assert "<script>" not in svg and svg.count("&lt;script&gt;") == 4
    assert 'id="c&#34;&gt;&lt;x-t"' in svg
    assert svg.count("<polyline") == 1 and "target 3.28" in svg


def test_many_records_draw_the_staircase_without_markers() -> None:
    points = [
        ProgressPoint(
            datetime(2024, 1, 1, tzinfo=UTC).replace(day=1 + i % 28, month=1 + i // 28 % 12),
            1000.0 - i,
            f"r{i}",
        )
        for i in range(MAX_MARKERS + 1)
    ]
    svg = progression_svg(points, chart_id="m", title="t", desc="d", y_label="y", y_format=fmt)
    assert "<circle" not in svg and 'class="stair"' in svg
