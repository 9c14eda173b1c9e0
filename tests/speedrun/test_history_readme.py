"""Tests for speedrun.history.readme: untidy hand-written tables and the real READMEs."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from speedrun.history import TrackTable, parse_readme

UNTIDY = """\
# Something

## World record history

> *Train a neural network to ≤3.28 validation loss on FineWeb using 8x NVIDIA H100s.*

| # | Record time | Description | Date | Log | Contributors |
| - | - | - | - | - | - |
1 | 45 minutes | [llm.c baseline](https://example.org/481) | 05/28/24 | [log](records/track_1_short/2024-10-13_llmc/main.log) | @karpathy, llm.c contributors
| 2 | 3.5 minutes | Plain text description | 06/06/24 | none | @alice |
3 | 2.5 minutes | A description with a stray | pipe in it | 01/26/25 | [log](records/track_1_short/2025-01-26_X/a.txt),[PR](https://github.com/o/r/pull/9) | @bob, @carol
3 | 2.6 minutes | 3rd record with new timing | 02/01/25 | [log](records/track_1_short/2025-02-01_Y/b.txt) | not a new record, just re-timing #3
4 | 90 seconds | Seconds, no log | - | - | -
5 | fast | unreadable time | 01/01/25 | - | -
6 | 1.1 minutes | Folder link | 03/01/25 | [log](records/track_1_short/2025-03-01_Z) | @dave
---
7 | 1 minutes | after the table: not a row | 03/02/25 | - | -
"""


def test_untidy_table() -> None:
    (table,) = parse_readme(UNTIDY)
    assert table.track == "main" and table.target_val_loss == 3.28
    assert [r.number for r in table.rows] == [1, 2, 3, 3, 4, 6]
    assert len(table.problems) == 1 and "unreadable time 'fast'" in table.problems[0]
    one, two, three, retimed, four, six = table.rows
    assert (one.time_s, one.date, one.contributors) == (2700.0, date(2024, 5, 28), ("@karpathy",))
    assert one.log_paths == ("records/track_1_short/2024-10-13_llmc/main.log",)
    assert one.description == "llm.c baseline"
    assert one.description_links[0].url == "https://example.org/481"
    assert (two.log_cell, two.log_links, two.time_ms) == ("none", (), 210_000.0)
    assert three.description == "A description with a stray | pipe in it"
    assert three.pr_url == "https://github.com/o/r/pull/9"
    assert three.log_paths == ("records/track_1_short/2025-01-26_X/a.txt",)
    assert three.contributors == ("@bob", "@carol") and not three.is_retiming
    assert retimed.is_retiming and retimed.time_s == pytest.approx(156.0)
    assert (four.time_s, four.date, four.log_links) == (90.0, None, ())
    assert six.log_paths == ("records/track_1_short/2025-03-01_Z",)
    assert table.time_units == ("minutes", "seconds")
    assert table.records_dir == "records/track_1_short"


def test_links_resolve_against_base_dir() -> None:
    text = """## Results
| # | Steps to 3.28 | Evidence | Description | Date | Log | Contributors |
| - | - | - | - | - | - | - |
| 1 | 3600(!) | 3.2777 (n=1)Ⓧ | [Muon](https://x.org/muon) | 2026/04/26 | [log](results/a.txt) | [@k](https://x.com/k) |
| 2 | 3500 | 3.2767 (n=4)✓ | Other | 2026/04/27 | [log](https://github.com/KellerJordan/modded-nanogpt/blob/master/records/track_3_optimization/results/b.txt) | [PR](https://github.com/o/r/pull/1) by [@j](https://github.com/j) |
"""
    (table,) = parse_readme(text, base_dir="records/track_3_optimization")
    assert table.track == "optimization" and table.target_val_loss == 3.28
    first, second = table.rows
    assert (first.steps, first.is_world_record, first.time_s) == (3600, True, None)
    assert (first.evidence_val_loss, first.evidence_runs, first.evidence_ok) == (3.2777, 1, False)
    assert first.log_paths == ("records/track_3_optimization/results/a.txt",)
    assert first.date == date(2026, 4, 26) and first.contributors == ("@k",)
    assert (second.steps, second.is_world_record, second.evidence_ok) == (3500, False, True)
    assert second.log_paths == ("records/track_3_optimization/results/b.txt",)
    assert second.pr_url == "https://github.com/o/r/pull/1"
    assert table.time_units == ("steps",)


def test_text_without_tables() -> None:
    assert parse_readme("# Title\n\nNo tables here.\n| a | b |\n") == []


# --- the real READMEs -----------------------------------------------------------------------


@pytest.fixture(scope="module")
def main_tables(fixture_root: Path) -> dict[str, TrackTable]:
    tables = parse_readme((fixture_root / "README.md").read_text())
    return {t.track: t for t in tables}


def test_readme_holds_main_and_medium(main_tables: dict[str, TrackTable]) -> None:
    assert sorted(main_tables) == ["main", "medium"]


def test_main_track_rows(main_tables: dict[str, TrackTable]) -> None:
    main = main_tables["main"]
    assert len(main.rows) == 91 and not main.problems
    numbers = [r.number for r in main.rows]
    assert sorted(set(numbers)) == list(range(1, 90))  # 89 records, #21 listed three times
    assert [r.number for r in main.rows if r.is_retiming] == [21, 21]
    assert main.target_val_loss == 3.28 and main.time_units == ("minutes",)
    assert main.records_dir == "records/track_1_short"
    by_no = {r.number: r for r in main.rows if not r.is_retiming}
    assert by_no[1].time_s == 45 * 60 and by_no[1].date == date(2024, 5, 28)
    assert by_no[1].log_paths == ("records/track_1_short/2024-10-13_llmc/main.log",)
    assert by_no[3].log_cell == "none" and by_no[3].log_links == ()
    assert by_no[12].time_s == pytest.approx(5.03 * 60)
    assert by_no[14].log_paths == ("records/track_1_short/2024-12-04_ValueEmbed",)  # a folder
    assert by_no[27].pr_url == "https://github.com/KellerJordan/modded-nanogpt/pull/109"
    assert by_no[66].log_cell == "-" and by_no[66].contributors_text == "-"
    assert by_no[86].log_links == () and by_no[86].pr_url is not None  # PR only
    assert by_no[89].time_s == pytest.approx(1.23 * 60)
    assert by_no[89].contributors[:2] == ("@Mister-dev-oss", "@CerovazS")
    assert by_no[89].date == date(2026, 7, 17)
    retimes = [r for r in main.rows if r.is_retiming]
    assert [r.time_s for r in retimes] == [pytest.approx(2.997 * 60), pytest.approx(3.014 * 60)]
    assert all("re-timing #21" in r.contributors_text for r in retimes)


def test_medium_track_rows(main_tables: dict[str, TrackTable]) -> None:
    medium = main_tables["medium"]
    assert [r.number for r in medium.rows] == list(range(1, 19)) and not medium.problems
    assert medium.target_val_loss == 2.92
    assert medium.time_units == ("hours", "minutes")
    assert medium.records_dir == "records/track_2_medium"
    rows = {r.number: r for r in medium.rows}
    assert rows[1].time_s == pytest.approx(5.8 * 3600)
    assert rows[1].log_paths == ("records/track_2_medium/2025-01-18/main.log",)
    assert (rows[6].time_s, rows[6].note_marker) == (pytest.approx(25.95 * 60), "*")
    assert (rows[11].date, rows[11].log_links, rows[11].contributors) == (None, (), ())
    assert rows[18].time_s == pytest.approx(17.35 * 60)


def test_optimization_track_rows(fixture_root: Path) -> None:
    readme = fixture_root / "records" / "track_3_optimization" / "README.md"
    (table,) = parse_readme(readme.read_text(), base_dir="records/track_3_optimization")
    assert table.track == "optimization" and table.target_val_loss == 3.28
    assert [r.number for r in table.rows] == list(range(1, 47)) and not table.problems
    assert table.time_units == ("steps",)
    rows = {r.number: r for r in table.rows}
    assert (rows[1].steps, rows[1].is_world_record, rows[1].evidence_ok) == (3600, True, False)
    assert (rows[12].steps, rows[12].evidence_val_loss, rows[12].evidence_runs) == (3325, 3.279, 20)
    assert rows[12].log_paths == (
        "records/track_3_optimization/results/1bd8db7a-f3a3-4195-856d-cab7e0816443.txt",
    )
    assert rows[12].date == date(2026, 5, 3) and rows[12].contributors == ("@kellerjordan0",)
    assert rows[46].steps == 2690 and rows[46].is_world_record
    assert rows[4].pr_url == "https://github.com/KellerJordan/modded-nanogpt/pull/272"
    assert sum(r.is_world_record is True for r in table.rows) == 20
