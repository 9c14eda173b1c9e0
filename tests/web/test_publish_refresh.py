"""A refresh rebuilds only what a change touches, and that is enough: after each kind of
write (a new record, a queued submission, an unsolicited run on a record's attempt, imported
history) the refreshed snapshot is the same, file for file, as a whole build of the same
database into an empty folder, while rendering a fraction of its pages."""

from __future__ import annotations

from pathlib import Path

import pytest
from publish_helpers import comparable, files, publish, small_site
from support.claims import submit
from support.history_checkout import Row, import_checkout
from web_helpers import make_bundle, step_log

from web.publish import folder, refresh

pytestmark = pytest.mark.slow


def assert_same_as_a_whole_build(site, out: Path, tmp_path: Path, name: str) -> int:
    """Refresh `out`, build afresh beside it, compare; the answers the refresh rendered."""
    report = publish(site.settings, out, incremental=True)
    assert not report.full and not report.failures, report.line()
    whole = publish(site.settings, tmp_path / f"whole-{name}")
    assert whole.full and not whole.failures
    mine, theirs = files(out), files(tmp_path / f"whole-{name}")
    assert sorted(mine) == sorted(theirs), (
        sorted(set(mine) - set(theirs))[:6],
        sorted(set(theirs) - set(mine))[:6],
    )
    differ = [p for p in mine if comparable(p, mine[p]) != comparable(p, theirs[p])]
    assert differ == [], f"after {name}, stale: {differ}"
    assert report.answers < whole.answers / 2, (report.line(), whole.line())
    return report.answers


def test_refreshes_equal_whole_builds(tmp_path):
    site = small_site(tmp_path)
    site.record("print('slow')\n", 4000.0)
    out = tmp_path / "snapshot"
    assert publish(site.settings, out).full
    assert publish(site.settings, out, incremental=True).answers == 0  # nothing changed

    site.record("print('fast')\n", 2000.0)
    assert_same_as_a_whole_build(site, out, tmp_path, "a new record")

    submit(site.client, site.token, "print('queued')\n", "cpu-tiny")
    queued = assert_same_as_a_whole_build(site, out, tmp_path, "a submission")
    assert queued <= 4  # its page, its twin, its attempt; no board, no record

    bundle = make_bundle(site.key, source="print('fast')\n", time_ms=2100.0, val_loss=3.0, seed=5)
    assert site.client.post("/api/v1/runs", content=bundle).status_code == 201
    assert_same_as_a_whole_build(site, out, tmp_path, "an unsolicited run")

    rows = [Row("3.0 minutes", "imported <i>row</i>", "10/01/24", step_log(180000, 3.27))]
    import_checkout(site.app.state.speedrun.db, tmp_path / "checkout", main=rows)
    assert_same_as_a_whole_build(site, out, tmp_path, "an import")


def test_board_pages_no_longer_produced_are_deleted(tmp_path):
    site = small_site(tmp_path)
    site.record("print('slow')\n", 4000.0)
    out = tmp_path / "snapshot"
    publish(site.settings, out)
    stale = out / "tracks" / "cpu-tiny" / "index@version=2&page=9.html"
    stale.write_text("a page 9 from when there were more records")
    (out / "records" / "kept.html").write_text("not a board page: not this refresh's to delete")
    site.record("print('fast')\n", 2000.0)
    report = publish(site.settings, out, incremental=True)
    assert not stale.exists() and report.removed >= 1
    assert (out / "records" / "kept.html").exists()


def test_code_or_settings_changed_means_a_whole_build(tmp_path):
    site = small_site(tmp_path)
    out = tmp_path / "snapshot"
    publish(site.settings, out)
    saved = folder.load_state(out)
    assert saved is not None
    folder.save_state(out, folder.Saved("another build of the code", saved.state))
    assert publish(site.settings, out, incremental=True).full
    site.settings.price_per_cpu_hour = 99.0  # every cost on every page
    assert publish(site.settings, out, incremental=True).full


def test_board_scope_owns_a_tracks_pages_and_the_index():
    tiny = [t for t in refresh.snapshot.every_track() if t.key == "cpu-tiny@v2"]
    inside = refresh.board_scope(tiny)
    assert inside("/tracks/cpu-tiny?version=2&evidence=signed&page=2")
    assert inside("/tracks/cpu-tiny")  # the latest version
    assert inside("/api/v1/tracks/cpu-tiny/leaderboard?version=2&limit=100&offset=0")
    assert inside("/tracks/cpu-tiny/records.atom") and inside("/?hidden=1&evidence=all")
    assert not inside("/tracks/cpu-tiny?version=1")
    assert not inside("/tracks/cpu-smoke?version=2") and not inside("/records/1")
    assert not refresh.board_scope([])("/")  # no board changed: the index neither
