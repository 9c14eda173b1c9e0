"""web.pages.detail: the view models of the record, run and submission pages. A record shows
its runs' curves, its code, the diff against the record it beat, a log excerpt and the exact
commands to reproduce it; a run its fingerprint and curve; a submission its runs, whether it
is still going, and its verdict under the track's rule. Unknown ids are not found."""

from __future__ import annotations

from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from fastapi.testclient import TestClient
from support.claims import run_claim, submit, submitter_token
from web_helpers import RUNS, TRACK, make_bundle

from server.app import create_app
from server.config import load_settings
from server.problems import NotFound
from server.services.runners import add_runner
from speedrun.tracks import get_track
from web.pages.detail import record_view, reproduce_commands, run_view, submission_view

LIVE = get_track(TRACK)
LOSS = round(LIVE.rules.target_val_loss - 0.5, 4)
OLD = "from speedrun import harness\nprint('old')\n"
NEW = "from speedrun import harness\nprint('new')\n"


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """Two records through jobs (the newer faster) and a submission still queued; the pages
    only read them."""
    path = tmp_path_factory.mktemp("detail") / "web.db"
    app = create_app(load_settings(db=f"sqlite:///{path}"))
    key = Ed25519PrivateKey.generate()
    db = app.state.speedrun.db
    with db.write() as session:
        add_runner(session, "ci-runner", key.public_key())
    token = submitter_token(db, "submitter")
    claims = []
    with TestClient(app) as client:
        for source, base in ((OLD, 2000.0), (NEW, 1000.0)):

            def make(
                job: dict[str, Any], i: int, source: str = source, base: float = base
            ) -> bytes:
                return make_bundle(
                    key, source=source, time_ms=base + i, val_loss=LOSS, seed=i, job=job
                )

            claims.append(run_claim(client, key, token, source, TRACK, make, runs=RUNS))
        pending = submit(client, token, "print('queued')\n", TRACK)
    yield app, claims, pending
    db.dispose()


def test_a_record_page_shows_its_runs_code_diff_and_how_to_reproduce(site: Any) -> None:
    app, (old, new), _ = site
    [old_id], [new_id] = old.records, new.records
    with app.state.speedrun.db.reader() as session:
        view = record_view(session, new_id, app.state.speedrun.settings, "https://board.example/")
    assert view.record.record_id == new_id and view.previous is not None
    assert view.previous.record_id == old_id and view.diff is not None and not view.diff_cut
    assert view.code is not None and view.code_lines == NEW.count("\n") + 1
    assert (
        view.curves.drawn == RUNS and len(view.curves.finals) == RUNS and view.curves.errors == []
    )
    assert all(f.val_loss == LOSS for f in view.curves.finals) and "<svg" in str(
        view.curves.time_chart
    )
    assert view.log is not None and view.log_run is not None
    assert (
        view.reproduce[0]
        == f"curl -fsSL https://board.example/api/v1/attempts/{view.record.attempt_id}/source -o train_gpt.py"
    )
    assert (
        view.reproduce[1] == f"echo '{view.record.variant_sha256}  train_gpt.py' | sha256sum -c -"
    )
    assert view.reproduce[-1].startswith(
        f"speedrun run train_gpt.py --track {LIVE.key} --runs {LIVE.rules.runs_required}"
    )
    assert [b.kind for b in view.badges][:2] == ["signed", "independent"]


def test_imported_history_is_reproduced_on_the_main_runner_track(site: Any) -> None:
    app, (_, new), _ = site
    with app.state.speedrun.db.reader() as session:
        view = record_view(session, new.records[0], app.state.speedrun.settings, "http://x")
    commands = reproduce_commands(view.record, get_track("modded-nanogpt-short"), [], "http://x")
    assert commands[0].startswith("# modded-nanogpt-short@v1 is imported history")
    assert "--track modded-nanogpt-short" not in commands[-1]


def test_a_run_page_shows_its_fingerprint_and_curve(site: Any) -> None:
    app, (_, new), _ = site
    run_id = new.answers[0]["run_id"]
    with app.state.speedrun.db.reader() as session:
        view = run_view(session, run_id)
    assert view.run.run_id == run_id and view.track == LIVE
    sections = dict(view.fingerprint)
    assert {"image", "data", "software", "hardware"} <= set(sections)
    assert ("name", "speedrun-cpu") in sections["image"]
    with app.state.speedrun.db.reader() as session, pytest.raises(NotFound):
        run_view(session, "no-such-run")


def test_a_submission_page_says_where_it_stands(site: Any) -> None:
    app, (_, new), pending = site
    with app.state.speedrun.db.reader() as session:
        done = submission_view(session, new.submission["id"])
        queued = submission_view(session, pending["id"])
    assert not done.active and len(done.runs) == RUNS
    assert done.verdict.record_id == new.records[0] and done.verdict.stats.qualifies
    assert done.verdict.current_id is None  # it is the current record itself
    assert queued.active and queued.runs == [] and queued.verdict.record_id is None
    assert queued.verdict.current_id == new.records[0] and queued.code is not None
