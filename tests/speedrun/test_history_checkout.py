"""speedrun.history.checkout: `scan_checkout` reads a modded-nanogpt checkout's README tables
(the main track's and the optimization track's, in its own folder), its record folders and
their matches; problems are collected, not raised, and only a missing checkout is an error."""

from __future__ import annotations

from pathlib import Path

import pytest
from support.bundles import step_log

from speedrun.errors import UsageError
from speedrun.history.checkout import scan_checkout

MAIN = (
    "## World record history\n\n| # | Record time | Description | Date | Log | Contributors |\n"
    "| - | - | - | - | - | - |\n"
    "1 | 3.0 minutes | first | 10/01/24 | [log](records/track_1_short/2024-10-01_A/a.txt) | @a\n"
    "2 | 2.5 minutes | second | 10/02/24 | [log](records/track_1_short/2024-10-02_B/b.txt) | @b\n"
)
OPTIMIZATION = (
    "## Notable results history\n\n"
    "| # | Steps to 3.28 | Evidence | Description | Date | Log | Contributors |\n"
    "| - | - | - | - | - | - | - |\n"
    "| 1 | 4 | 3.2700 (n=1) | fewer steps | 2026/04/26 | [log](results/1.txt) | @c |\n"
)


def write(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    return root


@pytest.fixture
def checkout(tmp_path: Path) -> Path:
    return write(
        tmp_path,
        {
            "README.md": MAIN,
            "records/track_1_short/2024-10-01_A/a.txt": step_log(180_000, 3.27),
            "records/track_1_short/2024-10-02_B/b.txt": step_log(150_000, 3.26),
            "records/track_3_optimization/README.md": OPTIMIZATION,
            "records/track_3_optimization/results/1.txt": step_log(9_000, 3.27),
        },
    )


def test_a_checkout_is_read_table_by_table_with_its_folders_and_matches(checkout: Path) -> None:
    scan = scan_checkout(checkout)
    assert scan.root == str(checkout) and scan.problems == ()
    assert [t.track for t in scan.tracks] == ["main", "optimization"]
    main = scan.track("main")
    assert [r.description for r in main.rows] == ["first", "second"]
    assert main.records_dir == "records/track_1_short"
    folder = scan.folder("records/track_1_short/2024-10-02_B")
    assert folder.run_count == 1 and folder.final_train_times_ms == (150_000.0,)
    assert [m.how for m in scan.matches_for("main")] == ["file", "file"]
    [optimization] = scan.matches_for("optimization")
    assert optimization.row.steps == 4 and optimization.how == "file"


def test_unknown_names_are_key_errors(checkout: Path) -> None:
    scan = scan_checkout(checkout)
    with pytest.raises(KeyError):
        scan.track("medium")
    with pytest.raises(KeyError):
        scan.folder("records/track_1_short/nowhere")


def test_problems_are_collected_and_the_rest_still_read(checkout: Path) -> None:
    (checkout / "records/track_1_short/2024-10-01_A/a.txt").write_bytes(b"\x00not a log\n")
    (checkout / "README.md").write_text("# no table here\n")
    scan = scan_checkout(checkout)
    reasons = {(p.path, p.reason) for p in scan.problems}
    assert ("README.md", "no main-track record table found") in reasons
    assert any(path.endswith("a.txt") for path, _ in reasons)
    assert [t.track for t in scan.tracks] == ["optimization"]  # its README still read
    assert scan.folder("records/track_1_short/2024-10-02_B").run_count == 1


def test_a_path_that_is_not_a_checkout_is_a_usage_error(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="not a directory"):
        scan_checkout(tmp_path / "missing")
    with pytest.raises(UsageError):
        scan_checkout(write(tmp_path, {"file": "x"}) / "file")


def test_an_empty_folder_scans_to_problems_not_an_error(tmp_path: Path) -> None:
    scan = scan_checkout(tmp_path)
    assert scan.tracks == () and scan.folders == () and scan.matches == ()
    assert {p.path for p in scan.problems} == {"README.md", "records"}
