"""The pages without a browser: every page renders from the API's data in the API's order,
links and redirects to its JSON twin, carries the security headers, escapes what it shows;
errors render HTML for pages and problem JSON for the API; the filter, pagination, cost,
imported history and the refreshing submission page; and the helpers (highlighter, diff,
links, charts) on their own."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from fastapi.testclient import TestClient
from sqlalchemy import update
from support.claims import claim, complete, job_block, run_claim, submitter_token, upload
from support.history_checkout import Row, import_checkout
from web_helpers import CSP, RUNS, TRACK, make_bundle, record_through_a_job, step_log

from server.app import create_app
from server.config import load_settings
from server.models import Job, Verification
from server.services import run_logs
from server.services.runners import add_runner
from server.services.tokens import create_token
from speedrun.tracks import get_track
from web import charts
from web import text as pages_text
from web.pages import board

TARGET = get_track(TRACK).rules.target_val_loss
LOSS = round(TARGET - 0.5, 4)
LIVE = get_track(TRACK).key  # e.g. cpu-tiny@v2


@pytest.fixture
def app(tmp_path: Path) -> Any:
    settings = load_settings(db=f"sqlite:///{tmp_path / 'web.db'}", price_per_cpu_hour=10.0)
    application = create_app(settings)
    yield application
    application.state.speedrun.db.dispose()


@pytest.fixture
def client(app: Any) -> Any:
    with TestClient(app) as c:
        yield c


@pytest.fixture
def key(app: Any) -> Ed25519PrivateKey:
    k = Ed25519PrivateKey.generate()
    with app.state.speedrun.db.write() as session:
        add_runner(session, "ci-runner", k.public_key())
    return k


@pytest.fixture
def token(app: Any) -> str:
    return submitter_token(app.state.speedrun.db, "submitter")


def _runs(time_ms: float) -> tuple[list[float], list[float]]:
    """The rule's minimum of runs around `time_ms`, losses well below the target."""
    return [time_ms + i for i in range(RUNS)], [LOSS + i / 1000 for i in range(RUNS)]


def _record(client: Any, key: Ed25519PrivateKey, token: str, source: str, time_ms: float) -> int:
    """RUNS runs of `source` on the live CPU track, through a job; returns the record made."""
    [made] = record_through_a_job(client, key, token, source, *_runs(time_ms))
    return int(made)


def _board_ids(html: str) -> list[int]:
    return [int(i) for i in re.findall(r'data-record="(\d+)"', html)]


def test_track_page_ranks_as_the_api_and_links_its_json_twin(client, key, token):
    first = _record(client, key, token, "print('first')\n", 4000.0)
    second = _record(client, key, token, "print('second')  # faster\n", 2000.0)
    page = client.get(f"/tracks/{TRACK}")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    twin = re.search(r'<link rel="alternate" type="application/json" href="([^"]+)"', page.text)
    assert twin, "no JSON twin linked"
    api = client.get(twin.group(1).replace("&amp;", "&")).json()
    assert _board_ids(page.text) == [e["record_id"] for e in api["entries"]] == [second, first]
    assert 'class="current"' in page.text and "current record" in page.text
    assert "superseded" in page.text  # the first record, shown as history
    assert '<svg class="chart progression"' in page.text
    # .json suffix and Accept: application/json reach the same twin
    for answer in (
        client.get(f"/tracks/{TRACK}.json", follow_redirects=False),
        client.get(
            f"/tracks/{TRACK}", headers={"accept": "application/json"}, follow_redirects=False
        ),
    ):
        assert (
            answer.status_code == 307
            and f"/api/v1/tracks/{TRACK}/leaderboard" in (answer.headers["location"])
        )
    assert client.get(f"/records/{second}.json").json()["record_id"] == second


def test_record_page_shows_runs_curves_code_diff_log_and_reproduction(client, key, token):
    _record(client, key, token, "import os\nSTEPS = 100\n", 4000.0)
    second = _record(client, key, token, "import os\nSTEPS = 50  # half\n", 2000.0)
    page = client.get(f"/records/{second}")
    assert page.status_code == 200
    html = page.text
    assert html.count("<polyline") == 2 * RUNS  # each run, against time and against tokens
    assert "<ins>+STEPS = 50  # half</ins>" in html and "<del>-STEPS = 100</del>" in html
    assert '<span class="ln" id="L1"><span class="kn">import</span>' in html
    assert "step:4/4 val_loss:" in html  # the log
    assert f"speedrun run train_gpt.py --track {LIVE} --runs {RUNS} --backend docker" in html
    assert "--image sha256:" + "ab" * 32 in html
    assert "Never re-verified" in html and "never re-verified" in html
    api = client.get(f"/api/v1/records/{second}").json()
    assert api["page_url"] == f"/records/{second}"
    run_id = api["runs"][0]["run_id"]
    run_page = client.get(api["runs"][0]["page_url"])
    assert run_page.status_code == 200 and run_page.text.count("<polyline") == 2
    assert client.get(f"/runs/{run_id}/log.txt").text.startswith("step:0/4")


def test_verification_badges_and_the_evidence_filter(client, key, token, app):
    first = _record(client, key, token, "print(1)\n", 4000.0)
    second = _record(client, key, token, "print(2)\n", 2000.0)
    with app.state.speedrun.db.write() as s:
        s.add(Verification(record_id=first, status="drifted", n_runs=2, image_digest="sha256:aa"))
        s.add(
            Verification(record_id=second, status="reproduced", n_runs=2, image_digest="sha256:bb")
        )
    app.state.speedrun.cache.invalidate()
    html = client.get(f"/tracks/{TRACK}").text
    assert "re-verified" in html and "drifted" in html
    reverified = client.get(f"/tracks/{TRACK}", params={"evidence": "reverified"}).text
    assert _board_ids(reverified) == [second]
    assert _board_ids(client.get(f"/tracks/{TRACK}?evidence=imported").text) == []
    assert (
        "No record on this track matches" in client.get(f"/tracks/{TRACK}?evidence=imported").text
    )
    bad = client.get(f"/tracks/{TRACK}?evidence=%3Cscript%3E")
    assert bad.status_code == 422 and bad.headers["content-type"].startswith("text/html")


def test_pagination_keeps_the_api_order(client, key, token, monkeypatch):
    ids = [_record(client, key, token, f"print({i})\n", 5000.0 - 10 * i) for i in range(3)]
    monkeypatch.setattr(board, "PAGE_SIZE", 2)
    one = client.get(f"/tracks/{TRACK}").text
    two = client.get(f"/tracks/{TRACK}?page=2").text
    assert _board_ids(one) + _board_ids(two) == ids[::-1]
    assert 'rel="next"' in one and 'rel="prev"' in two and "Page 2 of 2" in two


def test_cost_is_accelerator_hours_times_the_configured_price(client, key, token):
    time_ms = 3_600_000 / 2 / 100  # 0.01 process-hours on 2 processes
    record = _record(client, key, token, "print('cost')\n", time_ms)
    api = client.get(f"/api/v1/records/{record}").json()
    hours = api["cost"]["accelerator_hours"]
    mean_ms = time_ms + (RUNS - 1) / 2  # the runs' times are time_ms + 0, 1, ...
    assert hours == pytest.approx(2 * mean_ms / 3.6e6)
    html = client.get(f"/records/{record}").text
    assert f"${hours * 10:.3f}" in html  # price_per_cpu_hour=10 in this app's settings
    assert "SPEEDRUN_PRICE_PER_CPU_HOUR" in html


def test_security_headers_on_every_kind_of_response(client, key, token):
    record = _record(client, key, token, "print('h')\n", 1000.0)
    paths = [
        "/",
        f"/tracks/{TRACK}",
        f"/records/{record}",
        "/records/12345",
        "/no/such/page",
        "/static/site.css",
        "/static/poll.js",
        "/api/v1/health",
        f"/api/v1/tracks/{TRACK}/leaderboard",
        f"/api/v1/tracks/{TRACK}/leaderboard",  # the second one is served from the cache
        "/api/v1/records/12345",
    ]
    for path in paths:
        answer = client.get(path)
        assert answer.headers["content-security-policy"] == CSP, path
        assert answer.headers["x-content-type-options"] == "nosniff", path
        assert answer.headers["referrer-policy"] == "no-referrer", path
    docs = client.get("/docs")
    policy = docs.headers["content-security-policy"]
    scripts = re.search(r"script-src ([^;]+)", policy).group(1)
    assert "'unsafe-inline'" not in scripts and "'sha256-" in scripts
    assert "frame-ancestors 'none'" in policy


def test_errors_render_html_for_pages_and_problems_for_the_api(client):
    for path in ("/records/999", "/records/abc", "/runs/nope", "/tracks/nope", "/nowhere"):
        page = client.get(path)
        assert page.status_code == 404, path
        assert page.headers["content-type"].startswith("text/html"), path
        assert "<h1>404" in page.text
    for path in ("/api/v1/records/999", "/api/v1/nowhere"):
        answer = client.get(path)
        assert answer.status_code == 404
        assert answer.headers["content-type"].startswith("application/problem+json")
    asked = client.get("/records/999", headers={"accept": "application/json"})
    assert asked.headers["content-type"].startswith("application/problem+json")


def test_pages_keep_markup_and_scripts_out(client, key, token):
    """No inline script or style and no event handler attribute on any page."""
    record = _record(client, key, token, "print('x')\n", 1000.0)
    run_id = client.get(f"/api/v1/records/{record}").json()["runs"][0]["run_id"]
    for path in ("/", f"/tracks/{TRACK}", f"/records/{record}", f"/runs/{run_id}", "/nope"):
        html = client.get(path).text
        assert re.search(r"<script(?![^>]*\bsrc=)", html) is None, path
        assert re.search(r"\sstyle=", html) is None, path
        assert re.search(r"\son[a-z]+=", html) is None, path
        assert 'href="#main"' in html and 'id="main"' in html  # the skip link and its target


def test_submission_page_refreshes_while_queued(client, app):
    with app.state.speedrun.db.write() as s:
        _, token = create_token(s, "submitter")
    answer = client.post(
        "/api/v1/submissions",
        json={"track": TRACK, "source": "print('queued')\n", "description": "try this"},
        headers={"authorization": f"Bearer {token}"},
    )
    assert answer.status_code == 201, answer.text
    sub = answer.json()
    html = client.get(f"/submissions/{sub['id']}").text
    assert '<noscript><meta http-equiv="refresh" content="10"></noscript>' in html
    assert re.search(r'<script src="/static/poll\.js\?v=[0-9a-f]+" defer></script>', html)
    assert f'data-poll="/api/v1/submissions/{sub["id"]}"' in html and "PENDING" in html
    with app.state.speedrun.db.write() as s:
        s.execute(update(Job).values(state="FINISHED"))
    done = client.get(f"/submissions/{sub['id']}").text
    assert "FINISHED" in done and "refresh" not in done and "poll.js" not in done


def _verdict(html: str, field: str) -> str:
    match = re.search(rf'data-verdict="{field}">(.*?)</(?:span|dd)>', html, re.S)
    assert match, html
    return re.sub(r"<[^>]+>", "", match.group(1)).strip()


def _run_job(client: Any, key: Ed25519PrivateKey, source: str, time_ms: float) -> list[int]:
    """Claim the oldest pending job (of `source`) and run it: RUNS runs around `time_ms`."""
    lease = claim(client, key)
    made = []
    for i, (t, loss) in enumerate(zip(*_runs(time_ms), strict=True)):
        bundle = make_bundle(
            key, source=source, time_ms=t, val_loss=loss, seed=i, job=job_block(lease)
        )
        answer = upload(client, key, lease, bundle)
        assert answer.status_code == 201, answer.text
        made += answer.json()["records_established"]
    complete(client, key, lease)
    return made


def test_submission_page_says_why_an_attempt_is_or_is_not_the_record(client, app, key, token):
    record = _record(client, key, token, "print('the record')\n", time_ms=1000.0)
    ids = {}
    for name, source in (("slower", "print('slower')\n"), ("faster", "print('faster')\n")):
        answer = client.post(
            "/api/v1/submissions",
            json={"track": TRACK, "source": source, "description": name},
            headers={"authorization": f"Bearer {token}"},
        )
        assert answer.status_code == 201, answer.text
        ids[name] = answer.json()["id"]
    html = client.get(f"/submissions/{ids['slower']}").text
    assert _verdict(html, "rule").startswith("not met")
    assert _verdict(html, "outcome") == f"not a record (yet); the current one is record {record}"
    # five times slower than the record: qualifies, but does not beat it
    assert _run_job(client, key, "print('slower')\n", 5000.0) == []
    html = client.get(f"/submissions/{ids['slower']}").text
    assert _verdict(html, "rule") == "met"
    outcome = _verdict(html, "outcome")
    assert outcome.startswith(f"not a record: does not beat record {record} (Welch p="), outcome
    assert f'href="/records/{record}"' in html
    made = _run_job(client, key, "print('faster')\n", 200.0)
    html = client.get(f"/submissions/{ids['faster']}").text
    assert made and _verdict(html, "outcome") == f"record {made[0]}"


def test_run_page_says_why_a_run_does_not_count(client, key, token):
    """An unsolicited upload, and a job's run whose manifest says completed while its script
    timed itself at half the runner's time: each page says why, in plain words."""
    direct = make_bundle(key, source="print('direct')\n", time_ms=900.0, val_loss=LOSS)
    unsolicited = client.post("/api/v1/runs", content=direct).json()["run"]
    page = client.get(unsolicited["page_url"]).text
    assert "Why this run does not count" in page and "unsolicited" in page
    assert 'data-field="counts">no<' in page
    made = []

    def broken(job: dict[str, Any], i: int) -> bytes:
        from speedrun.bundle import build_bundle, read_bundle

        good = read_bundle(make_bundle(key, source="print('b')\n", time_ms=800.0 + i,
                                       val_loss=LOSS, seed=i, job=job))  # fmt: skip
        m = good.manifest
        m["figures"] |= {"self_reported_train_time_ms": 400.0 + i, "time_disagreement": 0.5}
        made.append(m["run_id"])
        return build_bundle(m, good.members, key)

    assert run_claim(client, key, token, "print('b')\n", TRACK, broken).records == []
    page = client.get(f"/runs/{made[0]}").text
    assert 'data-field="status">rule_violation: time disagreement' in page
    assert re.search(r'<ul class="violations"[^>]*><li>time disagreement: ', page)
    twin = client.get(f"/runs/{made[0]}.json", follow_redirects=True).json()
    assert twin["status"] == "rule_violation" and twin["violations"][0].startswith("time")


def test_imported_history_is_marked_and_the_steps_track_shows_steps(client, app, tmp_path):
    rows = [
        Row(
            str(steps),
            f"optimizer {i}, see [post](https://example.org/{i})",
            f"2026/04/{26 + i}",
            step_log(ms, 3.27, steps=steps),
            "@someone",
        )
        for i, (steps, ms) in enumerate([(5625, 9e5), (3600, 1e6)])
    ]
    import_checkout(app.state.speedrun.db, tmp_path / "modded-nanogpt", optimization=rows)
    app.state.speedrun.cache.invalidate()
    page = client.get("/tracks/modded-nanogpt-optimization").text
    api = client.get("/api/v1/tracks/modded-nanogpt-optimization/leaderboard").json()
    assert _board_ids(page) == [e["record_id"] for e in api["entries"]]
    assert "imported history" in page and "ranked by steps" in page
    index = client.get("/").text
    order = re.findall(r'<section class="board-section[^"]*" aria-labelledby="t-([^"]+)"', index)
    assert order[0] == "gpt2-124m-8xh100"
    families = [get_track(t).family for t in order]
    assert families == sorted(families, key=lambda f: f == "imported")  # imported history last
    record = client.get(f"/records/{api['entries'][0]['record_id']}").text
    assert '<a href="https://example.org/' in record  # links in descriptions work...
    assert "self-reported" in record


# ---------------------------------------------------------------- helpers on their own


def test_highlighter_escapes_and_numbers_every_line():
    html = pages_text.highlight_python('s = """</pre><script>x</script>\n"""\n# <b>\n')
    assert "<script>" not in html and "&lt;script&gt;" in html and "&lt;b&gt;" in html
    assert html.count('<span class="ln"') == 3


def test_diff_types_and_counts_lines():
    diff = pages_text.unified_diff("a\nb\nc\n", "a\nB\nc\nd\n", "old", "new")
    kinds = [line.kind for line in diff.lines]
    assert kinds == ["meta", "meta", "hunk", "ctx", "del", "add", "ctx", "add"]
    assert (diff.added, diff.removed) == (2, 1)
    assert [(d.old_no, d.new_no) for d in diff.lines if d.kind != "meta"][1:] == [
        (1, 1),
        (2, None),
        (None, 2),
        (3, 3),
        (None, 4),
    ]


def test_links_only_for_http_urls():
    html = pages_text.linkify(
        "see [post](https://a.org/x?y=1&z=2), https://b.org/c. "
        "[bad](javascript:alert(1)) javascript:alert(2) <img src=x onerror=alert(3)>"
    )
    assert (
        '<a href="https://a.org/x?y=1&amp;z=2" rel="nofollow noopener noreferrer">post</a>' in html
    )
    assert (
        '<a href="https://b.org/c" rel="nofollow noopener noreferrer">https://b.org/c</a>.' in html
    )
    assert html.count("<a ") == 2 and "&lt;img src=x" in html
    assert pages_text.http_url("javascript:alert(1)") is None


def test_log_excerpt_keeps_head_and_tail():
    text = "".join(f"line {i}\n" for i in range(100_000))
    cut = run_logs.log_excerpt(text, head_bytes=1000, tail_bytes=1000)
    assert cut.cut and cut.head.startswith("line 0\n") and cut.tail.endswith("line 99999\n")
    assert len(cut.head) + len(cut.tail) + cut.omitted_bytes == cut.total_bytes


def test_charts_escape_labels_and_scale():
    at = datetime(2024, 6, 1, tzinfo=UTC)
    points = [
        charts.ProgressPoint(at + timedelta(days=30 * i), 2700 / (i + 1), f"<b>{i}</b>", i == 3)
        for i in range(4)
    ]
    svg = charts.progression_svg(
        points, chart_id="c", title="t <x>", desc="d", y_label="time", y_format=str
    )
    assert "<b>" not in svg and "&lt;b&gt;0&lt;/b&gt;" in svg and "t &lt;x&gt;" in svg
    assert svg.count("<circle") == 4 and 'class="pt cur"' in svg
    assert charts.log_ticks(50, 3000) == [50, 100, 200, 500, 1000, 2000]
    ticks, fmt = charts.time_ticks(at, at + timedelta(days=400))
    assert fmt == "%Y-%m" and all(t.day == 1 for t in ticks) and 2 <= len(ticks) <= 7
    lines = charts.lines_svg(
        [charts.Series("<s>", ((0, 5.0), (1, 3.0)))],
        chart_id="l",
        title="t",
        desc="d",
        x_label="x",
        y_label="y",
        x_format=str,
        target=3.28,
    )
    assert lines.count("<polyline") == 1 and "&lt;s&gt;" in lines and 'class="target"' in lines


def test_the_deployments_notice_is_on_every_page(tmp_path):
    from server.config import Settings

    if "notice" not in Settings.model_fields:
        pytest.skip("this server has no `notice` setting")
    settings = load_settings(db=f"sqlite:///{tmp_path / 'n.db'}", notice="demo <b>local</b>")
    application = create_app(settings)
    with TestClient(application) as c:
        for path in ("/", "/tracks/cpu-tiny", "/records/1"):
            assert (
                '<p class="notice" role="note">demo &lt;b&gt;local&lt;/b&gt;</p>'
                in c.get(path).text
            )
    application.state.speedrun.db.dispose()
