"""Small modded-nanogpt checkouts written by a test and imported the way `speedrun records
import` does (`plan_import`, then `write_plan` in one transaction): a README table per track
(the main track's in README.md, the optimization track's in records/track_3_optimization/),
each row linking one log file of its own."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from server.db import Database
from server.services.history.plan import plan_import
from server.services.history.write import ImportSummary, write_plan

MAIN_HEADER = (
    "## World record history\n\n| # | Record time | Description | Date | Log | Contributors |\n"
    "| - | - | - | - | - | - |\n"
)
OPTIM_HEADER = (
    "## Notable results history\n\n"
    "| # | Steps to 3.28 | Evidence | Description | Date | Log | Contributors |\n"
    "| - | - | - | - | - | - | - |\n"
)


@dataclass(frozen=True)
class Row:
    figure: str  # the main track's "3.0 minutes", the optimization track's steps "5625"
    description: str
    date: str  # as the README writes it: "10/01/24" (main) or "2026/04/26" (optimization)
    log: str  # the log's text (modded-nanogpt's `step:` lines)
    contributors: str = "@a"


def write_checkout(
    root: Path, *, main: Sequence[Row] = (), optimization: Sequence[Row] = ()
) -> Path:
    """The checkout at `root`: row i's log is records/<track folder>/<i>/run.txt."""
    (root / "records").mkdir(parents=True, exist_ok=True)
    lines = [MAIN_HEADER]
    for i, row in enumerate(main, 1):
        _log(root / f"records/track_1_short/{i}/run.txt", row.log)
        lines.append(
            f"{i} | {row.figure} | {row.description} | {row.date} | "
            f"[log](records/track_1_short/{i}/run.txt) | {row.contributors}\n"
        )
    (root / "README.md").write_text("".join(lines))
    if optimization:
        folder = root / "records/track_3_optimization"
        lines = [OPTIM_HEADER]
        for i, row in enumerate(optimization, 1):
            _log(folder / f"results/{i}.txt", row.log)
            lines.append(
                f"| {i} | {row.figure} | 3.2700 (n=1) | {row.description} | {row.date} | "
                f"[log](results/{i}.txt) | {row.contributors} |\n"
            )
        (folder / "README.md").write_text("".join(lines))
    return root


def import_checkout(
    db: Database, root: Path, *, main: Sequence[Row] = (), optimization: Sequence[Row] = ()
) -> ImportSummary:
    """Write the checkout and import it; refuse one whose rows did not all import cleanly."""
    summary = write_plan(
        db, plan_import(write_checkout(root, main=main, optimization=optimization))
    )
    assert not summary.problems, summary.lines()
    assert summary.total("records_added") == len(main) + len(optimization), summary.lines()
    return summary


def _log(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
