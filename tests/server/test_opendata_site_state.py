"""The dependency rule: which rows' pages a change touches (`changes`), on states written by
hand for each case of the rule, and on a real database before and after real writes."""

from __future__ import annotations

from dataclasses import replace

from support.bundles import claim_runs, make_bundle
from support.claims import claim, submit

from server.services.opendata.site_state import Entity, SiteState, changes, poll_stamp, read_state

T, U = "cpu-tiny@v2", "cpu-smoke@v2"


def state() -> SiteState:
    """Track T: records 1 (superseded) <- 2 (current) from attempts 1 and 2, attempt 3 a
    plain attempt with a submission; track U: record 3 of attempt 4."""
    s = SiteState()
    s.attempts = {a: Entity(f"a{a}|", T if a < 4 else U, a) for a in (1, 2, 3, 4)}
    s.runs = {f"r{a}": Entity("", T if a < 4 else U, a) for a in (1, 2, 3, 4)}
    s.records = {
        1: Entity("m1", T, 1, None, 400.0, False),
        2: Entity("m2", T, 2, 1, 200.0, True),
        3: Entity("m3", U, 4, None, 300.0, True),
    }
    s.submissions = {7: Entity("PENDING", T, 3), 8: Entity("FINISHED", T, 2)}
    return s


def test_no_change_is_no_change():
    assert not changes(state(), state())


def test_a_run_of_a_plain_attempt_touches_its_run_attempt_and_submissions():
    now = state()
    now.runs["r9"] = Entity("", T, 3)
    now.attempts[3] = Entity("a3 more runs|", T, 3)
    ch = changes(state(), now)
    assert ch.runs == {"r9"} and ch.attempts == {3} and ch.submissions == {7}
    assert not ch.records and not ch.tracks  # no record, no board changed


def test_a_new_record_moves_every_rank_on_its_track_only():
    now = state()
    now.attempts[3] = Entity("a3|3", T, 3)  # attempt 3 became record 4
    now.records[2] = replace(now.records[2], mark="m2 superseded", current=False)
    now.records[4] = Entity("m4", T, 3, 2, 100.0, True)
    ch = changes(state(), now)
    assert ch.records == {1, 2, 4} and ch.tracks == {T}  # record 3 is on U
    assert ch.runs == {"r3"}  # its run's page now names the record
    assert ch.submissions == {7, 8}  # the verdicts compare with the new current record


def test_a_verification_touches_the_record_the_next_one_and_the_board():
    now = state()
    now.records[1] = replace(now.records[1], mark="m1 reproduced")
    ch = changes(state(), now)
    assert ch.records == {1, 2}  # 2 beat 1: its page names 1
    assert ch.tracks == {T} and not ch.runs and not ch.submissions


def test_a_heartbeat_touches_its_submission_only():
    now = state()
    now.submissions[7] = Entity("RUNNING|heartbeat", T, 3)
    ch = changes(state(), now)
    assert ch.submissions == {7} and not (ch.runs or ch.attempts or ch.records or ch.tracks)


def test_gone_rows_are_changes_and_states_survive_json():
    now = state()
    del now.runs["r4"]
    assert changes(state(), now).runs == {"r4"}
    assert SiteState.from_json(state().to_json()) == state()


def test_real_writes_are_seen(client, db, runner_key, token):
    with db.reader() as session:
        empty, stamp0 = read_state(session), poll_stamp(session)
    made = claim_runs(client, runner_key, token, "print('a')\n", [1000.0, 1001.0, 1002.0])
    with db.reader() as session:
        first, stamp1 = read_state(session), poll_stamp(session)
    ch = changes(empty, first)
    assert ch.runs == {a["run_id"] for a in made.answers}
    assert ch.records == set(made.records) and ch.tracks == {T}
    assert ch.submissions == {made.submission["id"]} and stamp1 != stamp0
    sub = submit(client, token, "print('b')\n", "cpu-tiny")
    with db.reader() as session:
        queued, stamp2 = read_state(session), poll_stamp(session)
    assert changes(first, queued).submissions == {sub["id"]} and stamp2 != stamp1
    claim(client, runner_key)  # PENDING -> RUNNING: its page shows the lease
    with db.reader() as session:
        leased, stamp3 = read_state(session), poll_stamp(session)
    assert changes(queued, leased).submissions == {sub["id"]} and stamp3 != stamp2
    unsolicited = make_bundle(runner_key, source="print('a')\n", time_ms=1500.0, seed=7)
    run_id = client.post("/api/v1/runs", content=unsolicited).json()["run_id"]
    with db.reader() as session:
        ch = changes(leased, read_state(session))
    # The record's attempt got a run: its page lists it; the board's figures did not move.
    assert run_id in ch.runs and ch.records == set(made.records)
