"""server.services.history.plan: what an import will write, worked out from a checkout before
the database is touched. Each README record becomes a plan with its runs and a natural key
(so planning twice gives the same plan); records chain by date; a path that is not a
checkout is refused naming what is missing."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from support.bundles import step_log
from support.history_checkout import Row, write_checkout

from server.services.history.plan import CheckoutInvalid, check_checkout, import_key, plan_import

ROWS = [
    Row("3.000 minutes", "first", "10/01/24", step_log(180_000.0, 3.27)),
    Row("2.500 minutes", "second", "10/05/24", step_log(150_000.0, 3.27)),
]


def test_each_readme_record_is_planned_with_its_runs(tmp_path: Path) -> None:
    plan = plan_import(write_checkout(tmp_path, main=ROWS))
    assert plan.problems == () and plan.unlinked_folders == () and plan.log_files == 2
    [track] = plan.tracks
    assert track.track.id == "modded-nanogpt-short"
    first, second = track.records
    assert (first.key, second.key) == ("1@2024-10-01", "2@2024-10-05")
    assert first.key == import_key(first.row)
    assert second.previous_key == first.key and first.superseded_at == second.established_at
    assert second.superseded_at is None and first.is_record and second.is_record
    [run] = second.runs
    assert (run.purpose, run.index, run.runs_in_file) == ("claim", 1, 1)
    assert run.claimed_time_ms == 150_000.0 and run.val_loss == 3.27 and run.row_key == second.key
    assert plan.log_bytes == sum(len(r.log) for r in ROWS)


def test_the_same_checkout_plans_the_same(tmp_path: Path) -> None:
    root = write_checkout(tmp_path, main=ROWS)
    one, two = plan_import(root), plan_import(root)

    def keys(p: Any) -> list[Any]:
        return [
            (r.key, [(x.path, x.log_sha256) for x in r.runs]) for t in p.tracks for r in t.records
        ]

    assert keys(one) == keys(two)


def test_an_unlinked_folder_and_an_unreadable_log_are_reported(tmp_path: Path) -> None:
    root = write_checkout(tmp_path, main=ROWS)
    (root / "records/track_1_short/orphan").mkdir()
    (root / "records/track_1_short/orphan/run.txt").write_text(step_log(1000.0, 3.2))
    (root / "records/track_1_short/1/run.txt").write_bytes(b"\x00 not a log")
    plan = plan_import(root)
    assert plan.unlinked_folders == ("records/track_1_short/orphan",)
    assert any(p.path == "records/track_1_short/1/run.txt" for p in plan.problems)
    first = plan.tracks[0].records[0]
    assert first.runs == ()  # planned without runs: its log could not be read


@pytest.mark.parametrize(
    ("layout", "message"),
    [
        ({}, "no README.md and no records"),
        ({"README.md": "x"}, "no records"),
        ({"README.md": "x", "records": "a file"}, "records is not a folder"),
    ],
)
def test_what_is_not_a_checkout_is_refused(
    tmp_path: Path, layout: dict[str, str], message: str
) -> None:
    for name, text in layout.items():
        (tmp_path / name).write_text(text)
    with pytest.raises(CheckoutInvalid, match=message):
        check_checkout(tmp_path)
    with pytest.raises(CheckoutInvalid, match="not a directory"):
        plan_import(tmp_path / "missing")
