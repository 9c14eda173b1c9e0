"""A record page weighs under 300 KB whatever it holds (`web.pages.budget`): the record of the
speedrun's imported history with the most runs, and a synthetic record of 200 runs of 5,000
logged val points each, with a 4,000-line variant, a diff against the record it beat, a long
log and 40 re-verifications. The charts still draw every run (thinned lines), the page says
what it cut, and the JSON twins keep everything. Then the budget's helpers on their own."""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterator
from dataclasses import asdict
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from markupsafe import Markup
from sqlalchemy import func, select

from server.app import create_app
from server.config import load_settings
from server.db import Database
from server.models import Attempt, Blob, Record, Run, RunLogSummary, Verification
from server.services import catalog, run_logs
from server.services.attempts import refresh_stats
from server.services.history.write import import_checkout
from server.services.run_logs import LogExcerpt
from web.pages import budget
from web.text import Diff, DiffLine, highlight_python

HISTORY = Path(__file__).resolve().parents[2] / ".." / "shared" / "fixtures" / "modded-nanogpt"
LIMIT_BYTES = 300 * 1024
TRACK = catalog.live_track("cpu-tiny")
RUNS, STEPS = 200, 5000


def _page(client: TestClient, path: str) -> str:
    answer = client.get(path)
    assert answer.status_code == 200, answer.text[:500]
    size = len(answer.content)
    assert size < LIMIT_BYTES, f"{path}: {size:,} bytes"
    return answer.text


def _lines_drawn(html: str) -> int:
    """Lines in the first chart: a polyline each, or a subpath each of the merged paths."""
    svg = html[html.index("<svg") : html.index("</svg>")]
    merged = re.findall(r'<path class="series\d merged" d="([^"]*)"', svg)
    return len(re.findall(r"<polyline ", svg)) + sum(d.count("M") for d in merged)


@pytest.mark.slow
def test_the_imported_record_with_the_most_runs_stays_light(tmp_path: Path) -> None:
    if not HISTORY.is_dir():
        pytest.skip(f"no modded-nanogpt fixture at {HISTORY}")
    url = f"sqlite:///{tmp_path / 'h.db'}"
    app = create_app(load_settings(db=url))
    import_checkout(app.state.speedrun.db, HISTORY.resolve())
    with app.state.speedrun.db.reader() as s:
        counts = (
            select(Record.id, func.count(Run.id))
            .join(Run, Run.attempt_id == Record.attempt_id)
            .group_by(Record.id)
            .order_by(func.count(Run.id).desc())
        )
        rows = s.execute(counts).all()
    with TestClient(app) as client:
        # the most runs, and the heaviest before budgets (a 3,491-line script: 937 KB then)
        for record_id, n_runs in rows[:3]:
            html = _page(client, f"/records/{record_id}")
            with_curve = client.get(f"/api/v1/records/{record_id}").json()["runs"]
            assert len(with_curve) == n_runs
            assert _lines_drawn(html) <= n_runs
    app.state.speedrun.db.dispose()


def _curve_json(seed: int) -> str:
    """5,000 val points: a decaying loss with noise and one spike (a loss blow-up)."""
    points = []
    for step in range(1, STEPS + 1):
        noise = ((step * 7919 + seed * 104729) % 1000) / 1000 * 0.02
        loss = 1.4 + 4.0 * (0.999**step) + noise + (0.8 if step == 2500 + seed else 0.0)
        points.append({"step": step, "val_loss": round(loss, 4), "train_time_ms": step * 12.0})
    return json.dumps({"format": "modded-nanogpt", "total_steps": STEPS, "val": points,
                       "train": [], "warnings": []})  # fmt: skip


def _source(lines: int, tag: str) -> bytes:
    body = "".join(
        f"    x_{i} = torch.randn(768, 768) @ w_{i}  # layer {i} {tag}\n" for i in range(lines)
    )
    return f"import torch\n\ndef main():\n{body}".encode()


def _attempt(s: Any, source: bytes, name: str) -> Attempt:
    sha = hashlib.sha256(source).hexdigest()
    s.add(Blob(sha256=sha, size_bytes=len(source), media_type="text/x-python", data=source))
    attempt = Attempt(track_id=TRACK.id, track_version=TRACK.version, variant_sha256=sha,
                      source_sha256=sha, name=name)  # fmt: skip
    s.add(attempt)
    s.flush()
    return attempt


def _run(s: Any, attempt: Attempt, i: int, excerpt: str) -> None:
    run = Run(
        run_id=hashlib.md5(f"{attempt.id}-{i}".encode()).hexdigest(), attempt_id=attempt.id,
        track_id=TRACK.id, track_version=TRACK.version, backend="docker", official=True,
        status="completed", time_ms=60_000.0 + i, val_loss=1.41 + i / 1e5,
        val_loss_source="independently-evaluated", seed=i, hardware_class="cpu",
        accelerator_count=2, purpose="claim" if i < 3 else "reverify",
        manifest_json=json.dumps({"figures": {"steps": STEPS, "train_tokens": STEPS * 4096}}),
    )  # fmt: skip
    s.add(run)
    s.flush()
    curve = _curve_json(i)  # written as `run_logs.store` writes it, without the models
    s.add(RunLogSummary(run_pk=run.id, curve_json=curve, val_curve_json=curve,
                        excerpt_json=excerpt))  # fmt: skip


def _seed_big_record(db: Database) -> int:
    """A record of 200 runs, beating one whose code differs on every line."""
    t0 = datetime(2026, 1, 1, tzinfo=UTC)
    log = "".join(f"step:{s}/{STEPS} val_loss:2.0 train_time:{s * 12}ms\n" for s in range(STEPS))
    excerpt = json.dumps(asdict(run_logs.log_excerpt(log * 20)))
    with db.write() as s:
        old = _attempt(s, _source(4000, "old"), "the record it beat")
        new = _attempt(s, _source(4000, "new"), "Muon improvements, 200 runs")
        _run(s, old, 0, excerpt)
        for i in range(RUNS):
            _run(s, new, i, excerpt)
        for a in (old, new):
            refresh_stats(s, a, TRACK)
        first = Record(track_id=TRACK.id, track_version=TRACK.version, attempt_id=old.id,
                       established_at=t0, superseded_at=t0 + timedelta(days=1))  # fmt: skip
        s.add(first)
        s.flush()
        big = Record(track_id=TRACK.id, track_version=TRACK.version, attempt_id=new.id,
                     previous_record_id=first.id, established_at=t0 + timedelta(days=1))  # fmt: skip
        s.add(big)
        s.flush()
        s.add_all(Verification(record_id=big.id, status="reproduced", n_runs=4,
                               detail="x" * 200) for _ in range(40))  # fmt: skip
        return big.id


@pytest.fixture(scope="module")
def big_record(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[TestClient, int]]:
    url = f"sqlite:///{tmp_path_factory.mktemp('budget') / 'big.db'}"
    app = create_app(load_settings(db=url))
    record_id = _seed_big_record(app.state.speedrun.db)
    with TestClient(app) as client:
        yield client, record_id
    app.state.speedrun.db.dispose()


@pytest.mark.slow
def test_a_record_of_200_runs_of_5000_points_stays_under_300_kb(big_record) -> None:
    client, record_id = big_record
    html = _page(client, f"/records/{record_id}")
    assert _lines_drawn(html) == RUNS  # every run is in the chart
    assert f"{RUNS} runs drawn, each line with at most {budget.points_per_curve(RUNS)}" in html
    assert f"{RUNS - budget.RUNS_LISTED} more runs" in html
    assert "the first " in html and "raw</a> source" in html  # the code, cut, says so
    assert "(cut: first lines only)" in html
    assert f"The latest {budget.VERIFICATIONS_LISTED} of 40 re-runs" in html
    twin = client.get(f"/api/v1/records/{record_id}").json()
    assert len(twin["runs"]) == RUNS and len(twin["verifications"]) == 40
    run = client.get(twin["runs"][0]["url"]).json()
    assert len(run["curve"]["val"]) == STEPS  # the full series stays in the run's JSON


@pytest.mark.slow
def test_a_run_page_of_5000_points_draws_a_thinned_line(big_record) -> None:
    client, record_id = big_record
    run_id = client.get(f"/api/v1/records/{record_id}").json()["runs"][1]["run_id"]
    html = _page(client, f"/runs/{run_id}")
    points = re.search(r'<polyline class="series0" points="([^"]*)"', html)
    assert points is not None
    assert len(points.group(1).split()) == budget.MAX_CURVE_POINTS
    assert "every point is in the run's JSON" in html


# --- the helpers ------------------------------------------------------------------------


def test_points_per_curve_shares_the_chart() -> None:
    assert budget.points_per_curve(1) == budget.MAX_CURVE_POINTS
    assert budget.points_per_curve(200) == budget.CHART_POINTS // 200
    assert budget.points_per_curve(10_000) == budget.MIN_CURVE_POINTS


def test_thin_val_keeps_the_ends_and_the_tuples() -> None:
    val = [(s, 1.0 / (s + 1), s * 12.0 if s % 2 else None) for s in range(5000)]
    thinned = budget.thin_val(val, budget.MAX_CURVE_POINTS)
    assert len(thinned) == budget.MAX_CURVE_POINTS
    assert thinned[0] == val[0] and thinned[-1] == val[-1] and set(thinned) <= set(val)
    assert budget.thin_val(val[:10], 400) == val[:10]


def test_cut_lines_keeps_whole_highlighted_lines() -> None:
    code = highlight_python("".join(f"s{i} = '<b>{i}</b>'\n" for i in range(500)))
    cut, shown = budget.cut_lines(code, 2000)
    assert 0 < shown < 500 and len(cut) <= 2000
    assert cut.count('<span class="ln"') == shown and cut.endswith("</span>\n")
    assert "<b>" not in cut  # still escaped
    whole, n = budget.cut_lines(code, 10**9)
    assert whole == code and n == 500
    assert budget.cut_lines(Markup(""), 10) == (Markup(""), 0)


def test_cut_diff_by_bytes() -> None:
    diff = Diff([DiffLine("add", "x" * 100, None, i) for i in range(1000)], 1000, 0)
    cut, was_cut = budget.cut_diff(diff, 19_000)
    assert was_cut and len(cut.lines) == 19_000 // (100 + budget.DIFF_LINE_OVERHEAD)
    assert (cut.added, cut.removed) == (1000, 0)  # the counts stay the whole diff's
    assert budget.cut_diff(diff, 10**9) == (diff, False)


def test_shorter_excerpt_keeps_head_and_tail_at_line_ends() -> None:
    text = "".join(f"line {i}\n" for i in range(10_000))
    stored = run_logs.log_excerpt(text)
    short = budget.shorter_excerpt(stored, 1000, 2000)
    assert short.head.startswith("line 0\n") and short.head.endswith("\n")
    assert short.tail.endswith("line 9999\n") and short.tail.startswith("line ")
    assert len(short.head) <= 1000 and len(short.tail) <= 2000
    assert short.total_bytes == len(text)
    assert short.omitted_bytes == len(text) - len(short.head) - len(short.tail)
    small = LogExcerpt("a\nb\n", "", 0, 4)
    assert budget.shorter_excerpt(small, 1000, 1000) is small
    uncut = run_logs.log_excerpt("".join(f"l{i}\n" for i in range(2000)))
    assert not uncut.cut
    again = budget.shorter_excerpt(uncut, 500, 500)
    assert again.cut and again.head.startswith("l0\n") and again.tail.endswith("l1999\n")
