"""web.pages.board: a track's board as the pages show it, built from the API's ranked entries:
badges for what vouches for each record, the price of its compute in the track's unit, the
evidence filter, pages that clamp out-of-range numbers, the progression chart, and the
index's order of tracks."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from fastapi.testclient import TestClient
from support.claims import submitter_token
from web_helpers import RUNS, TRACK, record_through_a_job

from server.app import create_app
from server.config import load_settings
from server.services.runners import add_runner
from speedrun.tracks import get_track
from web.pages.board import badges, build_board, index_tracks, matches, price_for

LIVE = get_track(TRACK)
LOSS = round(LIVE.rules.target_val_loss - 0.5, 4)


@pytest.fixture
def app(tmp_path: Path) -> Any:
    settings = load_settings(db=f"sqlite:///{tmp_path / 'web.db'}", price_per_cpu_hour=10.0)
    application = create_app(settings)
    yield application
    application.state.speedrun.db.dispose()


@pytest.fixture
def records(app: Any) -> list[int]:
    """Two records through jobs: the second faster, so it leads."""
    key = Ed25519PrivateKey.generate()
    db = app.state.speedrun.db
    with db.write() as session:
        add_runner(session, "ci-runner", key.public_key())
    token = submitter_token(db, "submitter")
    losses = [LOSS + i / 1000 for i in range(RUNS)]
    with TestClient(app) as client:
        slow = record_through_a_job(
            client, key, token, "print('slow')\n", [2000.0 + i for i in range(RUNS)], losses
        )
        fast = record_through_a_job(
            client, key, token, "print('fast')\n", [1000.0 + i for i in range(RUNS)], losses
        )
    return [*slow, *fast]


def board(app: Any, **kw: Any) -> Any:
    state = app.state.speedrun
    with state.db.reader() as session:
        return build_board(session, LIVE, state.settings, cache=state.cache, **kw)


def test_the_board_ranks_as_the_api_and_says_what_vouches(app: Any, records: list[int]) -> None:
    slow, fast = records
    b = board(app)
    assert [r.e.record_id for r in b.rows] == [fast, slow] and b.total == b.matching == 2
    assert b.current is not None and b.current.e.record_id == fast
    kinds = [badge.kind for badge in b.rows[0].badges]
    assert kinds[:3] == ["signed", "independent", "never"] and "unofficial" not in kinds
    assert b.rows[0].badges[0].label == "signed by ci-runner"
    assert b.json_url.startswith(b.public.leaderboard_url) and "limit=" in b.json_url
    assert b.page_url == f"/tracks/{LIVE.id}?version={LIVE.version}"
    assert "<svg" in str(b.chart)
    assert b.price.unit == "CPU-process-hour" and b.price.per_hour == 10.0


def test_pages_clamp_and_the_filter_chooses(app: Any, records: list[int]) -> None:
    first = board(app, page_size=1, page=99)
    assert (first.page, first.pages, [r.e.record_id for r in first.rows]) == (2, 2, [records[0]])
    assert board(app, page=-3, page_size=1).page == 1
    assert board(app, evidence="imported").matching == 0
    assert board(app, evidence="reverified").rows == []
    assert all(matches(r.e, "signed") and matches(r.e, "no-such-filter") for r in board(app).rows)
    assert [b.kind for b in badges(board(app).rows[0].e)] == [
        b.kind for b in board(app).rows[0].badges
    ]


def test_prices_follow_the_tracks_hardware(app: Any) -> None:
    settings = app.state.speedrun.settings
    gpu = price_for(get_track("gpt2-124m-8xh100"), settings)
    cpu = price_for(LIVE, settings)
    assert (gpu.unit, gpu.setting) == ("GPU-hour", "SPEEDRUN_PRICE_PER_ACCEL_HOUR")
    assert cpu.cost(2.0) == 20.0 and cpu.cost(None) is None


def test_the_index_lists_runner_tracks_before_imported_history() -> None:
    tracks = index_tracks()
    families = [t.family for t in tracks]
    assert families == sorted(families, key=lambda f: f == "imported")
    assert all(not t.hidden for t in tracks)
    assert any(t.hidden for t in index_tracks(include_hidden=True))
