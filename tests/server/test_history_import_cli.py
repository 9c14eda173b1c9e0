"""`speedrun records import PATH [--db URL]` through the real CLI: the summary it prints, the
problems it reports and still exits 0 for, and the clear refusals (exit != 0) for a PATH
that is not a checkout or a database that cannot be opened."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from srv_helpers import row_counts

from server.db import Database
from speedrun.cli import main as cli

FIXTURES = Path(__file__).resolve().parents[2] / ".." / "shared" / "fixtures" / "modded-nanogpt"


@pytest.fixture
def checkout(tmp_path: Path) -> Path:
    """The fixture checkout copied, one log cut off mid-line."""
    if not (FIXTURES / "README.md").is_file():
        pytest.skip(f"modded-nanogpt fixtures not found at {FIXTURES.resolve()}")
    root = tmp_path / "modded-nanogpt"
    shutil.copytree(FIXTURES, root)
    log = root / "records/track_1_short/2024-11-19_FlexAttention"
    log /= "8384493d-dba9-4991-b16b-8696953f5e6d.txt"
    log.write_bytes(log.read_bytes()[:-40])
    return root


def test_import_prints_a_summary_and_its_problems(checkout, tmp_path, capsys):
    db = tmp_path / "speedrun.db"
    assert cli(["records", "import", str(checkout), "--db", str(db)]) == 0
    out = capsys.readouterr().out
    lines = {line.split()[0]: line.split()[1:] for line in out.splitlines() if line.strip()}
    # track: rows, records, added, updated, same, no logs, runs +, runs =
    assert lines["modded-nanogpt-short@v1"] == ["91", "89", "89", "0", "0", "81", "16", "0"]
    assert lines["modded-nanogpt-medium@v1"] == ["18", "18", "18", "0", "0", "16", "2", "0"]
    assert lines["modded-nanogpt-optimization@v1"] == ["46", "46", "46", "0", "0", "45", "20", "0"]
    assert "problems: 1 (skipped)" in out
    assert "records/track_1_short/2024-11-19_FlexAttention/8384493d" in out
    assert "truncated mid-line" in out and "time:" in out and "MB/s" in out

    assert cli(["records", "import", str(checkout), "--db", str(db)]) == 0
    out = capsys.readouterr().out
    assert "done: 0 records and 0 runs added, 0 records updated (nothing new)" in out
    counts = row_counts(Database(f"sqlite:///{db}"))
    assert (counts["records"], counts["runs"], counts["attempts"]) == (153, 38, 153)


@pytest.mark.parametrize("layout", ["missing", "file", "empty", "no-records", "no-readme"])
def test_a_path_that_is_no_checkout_is_refused(layout, tmp_path, capsys):
    path = tmp_path / "checkout"
    if layout == "file":
        path.write_text("not a folder")
    elif layout != "missing":
        path.mkdir()
    if layout == "no-records":
        (path / "README.md").write_text("# Modded-NanoGPT\n")
    if layout == "no-readme":
        (path / "records").mkdir()
    db = tmp_path / "speedrun.db"
    assert cli(["records", "import", str(path), "--db", str(db)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("speedrun records: error:") and str(path) in err
    expected = {
        "missing": "not a directory",
        "file": "not a directory",
        "empty": "no README.md and no records",
        "no-records": "(no records)",
        "no-readme": "(no README.md)",
    }[layout]
    assert expected in err
    assert not db.exists()  # refused before the database was touched


@pytest.mark.parametrize(
    "url",
    ["postgresql+psycopg://nobody@127.0.0.1:1/speedrun", "nosuchdialect://host/db"],
)
def test_a_database_that_cannot_be_opened_is_reported(url, checkout, capsys):
    assert cli(["records", "import", str(checkout), "--db", url]) == 1
    err = capsys.readouterr().err
    assert "speedrun records import: error: cannot open the database" in err
    assert "Traceback" not in err
