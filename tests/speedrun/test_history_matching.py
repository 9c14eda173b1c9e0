"""speedrun.history.matching: each README row is matched to the runs it links to by the
strongest rule that finds them (a log file, a folder, a moved file, a renamed folder, the
row's date), and `how` says which; the statistics come from the matched runs only."""

from __future__ import annotations

from pathlib import Path

import pytest
from support.bundles import step_log

from speedrun.history import scan_checkout
from speedrun.history.matching import RowMatch, match_rows

TRACK = "records/track_1_short"
HEADER = (
    "## World record history\n\n| # | Record time | Description | Date | Log | Contributors |\n"
    "| - | - | - | - | - | - |\n"
)
# (folder, log file, time ms, val loss) of the checkout's runs
RUNS = [
    ("2024-10-01_A", "run.txt", 1000.0, 3.27),
    ("2024-10-02_B", "run.txt", 2000.0, 3.26),
    ("2024-10-03_C", "run.txt", 3000.0, 3.25),
    ("2024-10-04_D", "0f1e2d3c-run.txt", 4000.0, 3.24),
    ("2024-10-05_New", "run.txt", 5000.0, 3.23),
    ("2024-10-06_E", "run.txt", 6000.0, 3.22),
]
# (description, date, log link) of the README's rows
ROWS = [
    ("file", "10/01/24", f"[log]({TRACK}/2024-10-01_A/run.txt)"),
    ("folder", "10/02/24", f"[log]({TRACK}/2024-10-02_B)"),
    ("file-missing", "10/03/24", f"[log]({TRACK}/2024-10-03_C/gone.txt)"),
    ("moved", "10/04/24", f"[log]({TRACK}/elsewhere/0f1e2d3c-run.txt)"),
    ("renamed", "10/05/24", f"[log]({TRACK}/2024-10-05_Old/run.txt)"),
    ("row-date", "10/06/24", ""),
    ("no-log", "10/07/24", ""),
    ("missing", "10/08/24", f"[log]({TRACK}/nowhere/x.txt)"),
]


@pytest.fixture(scope="module")
def matches(tmp_path_factory: pytest.TempPathFactory) -> dict[str, RowMatch]:
    root = tmp_path_factory.mktemp("checkout")
    for folder, name, time_ms, loss in RUNS:
        path = root / TRACK / folder / name
        path.parent.mkdir(parents=True)
        path.write_text(step_log(time_ms, loss))
    rows = [
        f"{i} | 3.0 minutes | {d} | {day} | {log} | @a\n" for i, (d, day, log) in enumerate(ROWS, 1)
    ]
    (root / "README.md").write_text(HEADER + "".join(rows))
    scan = scan_checkout(root)
    found = {m.row.description: m for m in scan.matches_for("main")}
    assert len(found) == len(ROWS)
    return found


@pytest.mark.parametrize(("description", "_day", "_link"), ROWS)
def test_each_row_is_matched_by_the_rule_its_links_call_for(
    matches: dict[str, RowMatch], description: str, _day: str, _link: str
) -> None:
    assert matches[description].how == description


@pytest.mark.parametrize(
    ("description", "folder"),
    [
        ("file", "2024-10-01_A"),
        ("folder", "2024-10-02_B"),
        ("file-missing", "2024-10-03_C"),
        ("moved", "2024-10-04_D"),
        ("renamed", "2024-10-05_New"),
        ("row-date", "2024-10-06_E"),
    ],
)
def test_a_match_holds_its_folder_and_only_that_folders_runs(
    matches: dict[str, RowMatch], description: str, folder: str
) -> None:
    match = matches[description]
    assert match.folder is not None and match.folder.name == folder
    assert [r.path.split("/")[2] for r in match.runs] == [folder]


def test_unmatched_rows_say_what_they_linked_and_have_no_statistics(
    matches: dict[str, RowMatch],
) -> None:
    missing, no_log = matches["missing"], matches["no-log"]
    assert missing.folder is None and missing.runs == ()
    assert missing.detail == f"{TRACK}/nowhere/x.txt"
    assert no_log.folder is None and no_log.measured(3.28) is None
    moved, renamed = matches["moved"].detail, matches["renamed"].detail
    assert moved == f"{TRACK}/elsewhere/0f1e2d3c-run.txt -> {TRACK}/2024-10-04_D/0f1e2d3c-run.txt"
    assert renamed == f"{TRACK}/2024-10-05_Old/run.txt -> {TRACK}/2024-10-05_New"


def test_measured_statistics_are_over_the_matched_runs(matches: dict[str, RowMatch]) -> None:
    stats = matches["folder"].measured(3.28)
    assert stats is not None
    assert stats.val_losses == (3.26,) and stats.train_times_ms == (2000.0,)
    assert matches["folder"].at_claimed_steps(3.28) is None  # a time claim, not a step claim


def test_a_step_claim_reads_the_val_loss_at_the_claimed_step(tmp_path: Path) -> None:
    folder = tmp_path / "records/track_3_optimization"
    (folder / "results").mkdir(parents=True)
    (folder / "results/1.txt").write_text(step_log(4000.0, 3.20, steps=4, midpoint=True))
    (folder / "README.md").write_text(
        "## Notable results history\n\n"
        "| # | Steps to 3.28 | Evidence | Description | Date | Log | Contributors |\n"
        "| - | - | - | - | - | - | - |\n"
        "| 1 | 2 | 3.3500 (n=1) | half-way | 2026/04/26 | [log](results/1.txt) | @a |\n"
    )
    (tmp_path / "README.md").write_text(HEADER)
    scan = scan_checkout(tmp_path)
    [match] = match_rows(scan.tracks, scan.folders)
    assert match.how == "file"
    at_step = match.at_claimed_steps(3.28)
    assert at_step is not None and at_step.val_losses == (pytest.approx((5.5 + 3.20) / 2),)
    final = match.measured(3.28)
    assert final is not None and final.val_losses == (3.20,)
