"""The snapshot's folder: what `--out` may be (a new folder, an empty one, or a snapshot, never
a folder of other files, since a build deletes what it no longer produces), one build at a
time, and the saved state read back (or ignored when unreadable)."""

from __future__ import annotations

import pytest

from server.services.opendata.site_state import Entity, SiteState
from web.publish import folder


def test_out_may_be_new_empty_or_a_snapshot(tmp_path):
    new = folder.prepare(tmp_path / "new")
    assert (new / folder.MARKER).exists()
    assert folder.prepare(new) == new  # marked: again
    empty = tmp_path / "empty"
    empty.mkdir()
    assert folder.prepare(empty) == empty


@pytest.mark.parametrize(
    ("make", "why"),
    [
        (lambda p: p.write_text("a file"), "not a folder"),
        (lambda p: (p.mkdir(), (p / "notes.txt").write_text("mine")), "holds other files"),
        (lambda p: None, "does not exist"),
    ],
)
def test_out_is_refused_with_the_reason(tmp_path, make, why):
    target = tmp_path / "out"
    make(target)
    if why == "does not exist":
        target = tmp_path / "missing" / "out"
    with pytest.raises(folder.PublishError, match=why):
        folder.prepare(target, "--out")
    if why == "holds other files":
        assert sorted(p.name for p in target.iterdir()) == ["notes.txt"]  # left as it was


def test_one_build_at_a_time(tmp_path):
    out = folder.prepare(tmp_path / "snap")
    with (
        folder.locked(out),
        pytest.raises(folder.PublishError, match="another publish"),
        folder.locked(out),
    ):
        pass
    with folder.locked(out):  # released
        pass


def test_state_round_trip_and_unreadable_state(tmp_path):
    out = folder.prepare(tmp_path / "snap")
    assert folder.load_state(out) is None
    state = SiteState(runs={"ab": Entity("", "cpu-tiny@v2", 1)})
    folder.save_state(out, folder.Saved("sig", state))
    loaded = folder.load_state(out)
    assert loaded is not None and loaded.signature == "sig" and loaded.state == state
    (out / folder.STATE).write_text('{"signature": "sig", "state": {"runs": {"x": {"bad": 1}}}}')
    assert folder.load_state(out) is None  # a whole build instead
