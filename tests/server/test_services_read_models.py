"""server.services.read_models: the API's read models built from stored rows. A track shows
its rules and links; a run shows its figures, the rules it broke, why it does not count, its
stored curve and its log (read from its bundle); an attempt its statistics and source; a job
never its nonce; unknown ids are 404s naming what was missing."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import update
from support.bundles import DEFAULT_SOURCE, TRACK, make_bundle, manifest

from server.models import Run
from server.problems import NotFound
from server.services import read_models
from server.services.ingest import ingest_bundle
from speedrun.tracks import get_track


class NoCache:
    def invalidate(self, track_key: str | None = None) -> None:
        pass


def test_a_track_as_the_api_shows_it() -> None:
    track = get_track(TRACK)
    public = read_models.track_public(track)
    assert public.key == track.key and public.time_limit_s == track.limits.wall_clock_s
    assert public.rules.record_backends == list(track.rules.record_backends)
    assert public.page_url == f"/tracks/{track.id}?version={track.version}"


def test_a_run_with_its_log_curve_and_reasons(db, settings, runner_key) -> None:
    answer = ingest_bundle(
        db, make_bundle(runner_key, time_ms=1500.0, val_loss=3.5), settings, NoCache()
    )
    with db.reader() as session:
        run = read_models.get_run(session, answer.run_id)
        public = read_models.run_public(session, run)
        assert public.run_id == answer.run_id and public.time_ms == 1500.0
        assert public.not_counted == ["unsolicited: uploaded outside any server job"]
        assert public.curve is not None and public.curve.val[-1].val_loss == 3.5
        assert public.bundle_url == f"/api/v1/runs/{answer.run_id}/bundle"
        assert public.manifest["run_id"] == answer.run_id and public.violations == []
        log = read_models.run_log_text(session, run)
        assert log is not None and log.rstrip().endswith("step_avg:375.00ms")
        attempt = read_models.get_attempt(session, run.attempt_id)
        assert read_models.attempt_source(session, attempt) == DEFAULT_SOURCE
        stats = read_models.attempt_public(session, attempt).stats
        assert stats.n_runs == 0 and stats.n_unsolicited == 1


def test_stored_violations_are_read_back(db, settings, runner_key) -> None:
    bad = manifest(time_ms=1000.0)
    bad["figures"] |= {"self_reported_train_time_ms": 5000.0, "time_disagreement": 4.0}
    answer = ingest_bundle(db, make_bundle(runner_key, bad), settings, NoCache())
    with db.reader() as session:
        run = read_models.get_run(session, answer.run_id)
        assert run.status == "rule_violation" and read_models.run_violations(run)
    with db.write() as session:
        session.execute(
            update(Run).where(Run.run_id == answer.run_id).values(violations_json=json.dumps(["x"]))
        )
    with db.reader() as session:
        assert read_models.run_violations(read_models.get_run(session, answer.run_id)) == ["x"]


@pytest.mark.parametrize(
    ("get", "code"),
    [(read_models.get_run, "unknown-run"), (read_models.get_attempt, "unknown-attempt")],
)
def test_unknown_ids_are_not_found(db, get, code) -> None:
    with db.reader() as session, pytest.raises(NotFound) as exc:
        get(session, "nope" if get is read_models.get_run else 4242)
    assert exc.value.code == code
