"""server.services.reverify.schedule: the periodic scan queues re-runs of the records that are
due (top K of a track, last checked more than D days ago), once: a record with an open job is
not queued again; the background thread starts only when an interval is set, and stops."""

from __future__ import annotations

import time

from sqlalchemy import select
from support.bundles import claim_runs

from server.models import Job
from server.services.reverify.schedule import ReverifyScheduler, scan_once

SOURCE = "from speedrun import harness\nprint('sched')\n"


def reverify_jobs(db) -> list[tuple[int | None, str]]:
    with db.reader() as session:
        return list(session.execute(select(Job.record_id, Job.state).where(Job.kind == "reverify")))


def test_due_records_are_queued_once(client, db, settings, runner_key, token) -> None:
    [record_id] = claim_runs(client, runner_key, token, SOURCE, [1000.0, 1002.0, 1001.0]).records
    fresh = settings.model_copy(update={"reverify_every_days": 7.0})
    assert scan_once(db, fresh) == []  # established just now: not due
    due = settings.model_copy(update={"reverify_every_days": 0.0, "reverify_runs": 2})
    [job_id] = scan_once(db, due)
    assert reverify_jobs(db) == [(record_id, "PENDING")]
    assert scan_once(db, due) == []  # its job is still open
    with db.reader() as session:
        assert session.get_one(Job, job_id).runs_total == 2


def test_the_thread_runs_only_with_an_interval_and_stops(db, settings) -> None:
    off = ReverifyScheduler(db, settings.model_copy(update={"reverify_scan_interval_s": 0}))
    off.start()
    assert off._thread is None
    on = ReverifyScheduler(db, settings.model_copy(update={"reverify_scan_interval_s": 0.05}))
    on.start()
    thread = on._thread
    assert thread is not None and thread.is_alive()
    time.sleep(0.2)  # a few empty scans: nothing due, nothing queued, no failure
    on.stop()
    assert not thread.is_alive() and on._thread is None
    assert reverify_jobs(db) == []
