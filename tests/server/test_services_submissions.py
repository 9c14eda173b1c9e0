"""server.services.submissions: a submission goes to the live version of its track, stores
the source once, joins the attempt and the open job of the same code, and counts against
the submitter's quota; empty, oversized or unrepresentable sources, closed tracks and
submitters over their quota are refused before anything is stored."""

from __future__ import annotations

from datetime import timedelta

import pytest
from srv_helpers import row_counts
from support.bundles import TRACK

from server.config import load_settings
from server.models import User, utcnow
from server.problems import BadRequest, RateLimited, TooLarge
from server.services.submissions import create_submission, get_submission, resolve_track

SOURCE = "from speedrun import harness\nprint('s')\n"


@pytest.fixture
def alice(db) -> User:
    with db.write() as session:
        user = User(name="alice")
        session.add(user)
    return user


def submit(db, user, settings, source=SOURCE, track=TRACK, when=None, **kw):
    return create_submission(db, user, track, None, source, "d", settings, when or utcnow(), **kw)


def test_the_same_code_joins_the_same_attempt_and_job(db, settings, alice) -> None:
    first = submit(db, alice, settings)
    again = submit(db, alice, settings, name="Muon")
    other = submit(db, alice, settings, source=SOURCE + "# changed\n")
    assert again.attempt_id == first.attempt_id and again.job_id == first.job_id
    assert other.attempt_id != first.attempt_id and other.job_id != first.job_id
    with db.reader() as session:
        stored = get_submission(session, again.id)
        assert stored.name == "Muon" and stored.track_id == TRACK


@pytest.mark.parametrize(
    ("source", "error", "code"),
    [
        ("   \n", BadRequest, "empty-source"),
        ("x" * 2_000_000, TooLarge, "too-large"),
        ("print('\x00')", BadRequest, "bad-text"),
    ],
)
def test_bad_sources_store_nothing(db, settings, alice, source, error, code) -> None:
    before = row_counts(db)
    with pytest.raises(error) as exc:
        submit(
            db, alice, settings.model_copy(update={"max_variant_bytes": 1_000_000}), source=source
        )
    assert exc.value.code == code and row_counts(db) == before


def test_closed_and_unknown_tracks_are_refused(settings) -> None:
    with pytest.raises(BadRequest) as imported:
        resolve_track("modded-nanogpt-short", None, settings)
    assert imported.value.code == "track-imported"
    with pytest.raises(BadRequest) as hidden:
        resolve_track("cpu-smoke", None, settings)
    assert hidden.value.code == "track-hidden"
    allowed = settings.model_copy(update={"submissions_to_hidden_tracks": True})
    assert resolve_track("cpu-smoke", None, allowed).id == "cpu-smoke"
    with pytest.raises(BadRequest) as unknown:
        resolve_track("cpu-huge", None, settings)
    assert unknown.value.code == "unknown-track"


def test_a_submitter_over_the_quota_waits(db, db_url, alice) -> None:
    settings = load_settings(db=db_url, submissions_per_window=2, submission_window_s=3600)
    now = utcnow()
    submit(db, alice, settings, when=now - timedelta(minutes=30))
    submit(db, alice, settings, source=SOURCE + "#2\n", when=now)
    with pytest.raises(RateLimited) as exc:
        submit(db, alice, settings, source=SOURCE + "#3\n", when=now)
    wait = int(exc.value.headers["Retry-After"])
    assert 30 * 60 - 5 <= wait <= 30 * 60 + 1  # until the oldest leaves the window
    later = now + timedelta(minutes=31)
    assert submit(db, alice, settings, source=SOURCE + "#4\n", when=later).id
