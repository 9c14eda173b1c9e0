"""The speedrun's history, parsed: README record tables, record folders and their runs.

    parse_readme(text)        README Markdown -> [TrackTable] (readme.py)
    scan_records(root)        records/ -> [RecordFolder] with runs and stats (records.py)
    match_rows(tables, ...)   README rows -> folders and runs (matching.py)
    scan_checkout(path)       all of the above for one checkout -> HistoryScan (checkout.py)

Pure parsing: importing the history into the database is the server's job.
"""

from speedrun.history.checkout import HistoryScan, scan_checkout
from speedrun.history.matching import RowMatch, match_rows
from speedrun.history.readme import Link, RecordRow, TrackTable, parse_readme
from speedrun.history.records import FolderRun, Problem, RecordFolder, role_of, scan_records
from speedrun.history.stats import (
    RunStats,
    StatisticsDoc,
    one_sided_p_value,
    parse_statistics_md,
    summarize,
)

__all__ = [
    "FolderRun",
    "HistoryScan",
    "Link",
    "Problem",
    "RecordFolder",
    "RecordRow",
    "RowMatch",
    "RunStats",
    "StatisticsDoc",
    "TrackTable",
    "match_rows",
    "one_sided_p_value",
    "parse_readme",
    "parse_statistics_md",
    "role_of",
    "scan_checkout",
    "scan_records",
    "summarize",
]
