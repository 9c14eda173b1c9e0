"""server.services.reverify.jobs: a record's re-run is a `reverify` job of its own code on its
own track version (the track's runs_required, or as many as asked), tied to the record;
unknown records, records without a stored source, and tracks that take no runs are refused."""

from __future__ import annotations

import pytest
from sqlalchemy import update
from support.bundles import claim_runs

from server.models import Attempt, Record
from server.problems import NotFound
from server.services.reverify.jobs import schedule_reverification
from speedrun.tracks import get_track

SOURCE = "from speedrun import harness\nprint('rv')\n"


@pytest.fixture
def record_id(client, runner_key, token) -> int:
    [rid] = claim_runs(client, runner_key, token, SOURCE, [1000.0, 1002.0, 1001.0]).records
    return rid


def test_a_record_is_re_run_as_a_job_of_its_own_code(db, record_id) -> None:
    with db.write() as session:
        job = schedule_reverification(session, record_id)
        record = session.get_one(Record, record_id)
        attempt = session.get_one(Attempt, record.attempt_id)
        assert (job.kind, job.state, job.record_id) == ("reverify", "PENDING", record_id)
        assert job.variant_sha256 == attempt.source_sha256 and job.attempt_id == attempt.id
        assert (job.track_id, job.track_version) == (record.track_id, record.track_version)
        assert (
            job.runs_total == get_track(record.track_id, record.track_version).rules.runs_required
        )
        assert schedule_reverification(session, record_id, runs=5).runs_total == 5


def test_unknown_records_and_records_without_source_are_refused(db, record_id) -> None:
    with pytest.raises(NotFound) as unknown, db.write() as session:
        schedule_reverification(session, 4242)
    assert unknown.value.code == "unknown-record"
    with db.write() as session:
        record = session.get_one(Record, record_id)
        session.execute(
            update(Attempt).where(Attempt.id == record.attempt_id).values(source_sha256=None)
        )
    with pytest.raises(NotFound) as no_source, db.write() as session:
        schedule_reverification(session, record_id)
    assert no_source.value.code == "no-source"
