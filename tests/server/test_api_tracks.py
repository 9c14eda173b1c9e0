"""Read endpoints: tracks, the leaderboard's pages and cache, and the HTML page."""

from __future__ import annotations

from srv_helpers import assert_problem
from support.bundles import RUNS, TRACK, claim_runs

BOARD = f"/api/v1/tracks/{TRACK}/leaderboard"


def _records(client, key, token, n, first=0):
    """n successive records, each faster than the one before (through jobs)."""
    for i in range(first, first + n):
        source = f"from speedrun import harness\nprint('v{i}')\n"
        times = [1000.0 - 100 * i + j for j in range(RUNS)]
        assert len(claim_runs(client, key, token, source, times).records) == 1


def test_tracks_hide_test_tracks_unless_asked(client):
    visible = {t["id"] for t in client.get("/api/v1/tracks").json()["data"]}
    assert "cpu-smoke" not in visible and "gpt2-124m-8xh100" in visible
    everything = client.get("/api/v1/tracks", params={"include_hidden": True}).json()
    assert "cpu-smoke" in {t["id"] for t in everything["data"]}
    one = client.get("/api/v1/tracks/cpu-smoke@v2").json()
    assert one["rules"]["runs_required"] == 2 and one["hardware"]["hardware_class"] == "cpu"
    assert_problem(
        client.get("/api/v1/tracks/cpu-smoke", params={"version": 9}), 404, "unknown-track"
    )


def test_leaderboard_pages_and_cache_invalidation(client, runner_key, token):
    _records(client, runner_key, token, 3)
    board = client.get(BOARD, params={"limit": 2}).json()
    assert board["total"] == 3 and [e["rank"] for e in board["entries"]] == [1, 2]
    assert board["entries"][0]["status"] == "current"
    rest = client.get(BOARD, params={"limit": 2, "offset": 2}).json()
    assert [e["rank"] for e in rest["entries"]] == [3]
    _records(client, runner_key, token, 1, first=9)
    fresh = client.get(BOARD).json()
    assert fresh["total"] == 4  # the cached page was dropped on the write
    assert_problem(client.get(BOARD, params={"limit": 0}), 422, "validation")
    records = client.get(f"/api/v1/tracks/{TRACK}/records").json()
    assert records["count"] == 4
    for entry in records["data"]:  # a record's own page agrees with the board on its rank
        assert client.get(entry["url"]).json()["rank"] == entry["rank"]


def test_html_page_renders_escaped(client, runner_key, token, db):
    from sqlalchemy import update

    from server.models import Attempt

    _records(client, runner_key, token, 1)
    with db.write() as s:
        s.execute(update(Attempt).values(name="<script>alert(1)</script>"))
    page = client.get("/")
    assert page.status_code == 200 and f"{TRACK}@v2" in page.text
    assert "<script>alert(1)</script>" not in page.text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page.text
    assert "cpu-smoke@v2" not in page.text  # hidden by default
    assert "cpu-smoke@v2" in client.get("/", params={"hidden": 1}).text


def test_unknown_paths_and_methods_are_problems(client):
    assert_problem(client.get("/api/v1/nope"), 404, "not-found")
    assert_problem(client.delete("/api/v1/health"), 405, "method-not-allowed")
    assert_problem(client.get("/api/v1/records/0"), 404, "unknown-record")
    assert_problem(client.get("/api/v1/attempts/5"), 404, "unknown-attempt")
    assert_problem(client.get("/api/v1/submissions/5"), 404, "unknown-submission")
    assert_problem(client.get("/api/v1/jobs/5"), 404, "unknown-job")
