"""Imported history: what the speedrun's README and logs say about an imported record.

Self-reported by the record's authors (badge "imported, self-reported"): shown beside, never
mixed with, runner-verified results. `RecordEntry.imported` carries it (null for verified).
"""

from __future__ import annotations

from datetime import date
from typing import Any

from pydantic import BaseModel


class LinkPublic(BaseModel):
    text: str
    url: str  # as written in the README
    path: str | None = None  # repository-relative, when it points into the repository


class RetimingPublic(BaseModel):
    """A README row that repeats the record's number: the same record timed again."""

    claimed: str  # as written: "2.997 minutes"
    claimed_time_ms: float | None
    date: date | None
    description: str
    note: str  # the contributors cell, e.g. "not a new record, just re-timing #21 ..."
    log_links: list[LinkPublic]
    logs: str  # "logged" | "no logs"
    runs: int  # its runs (purpose "retiming") among the record's runs


class RunGroupPublic(BaseModel):
    """Statistics over the record's runs of one purpose on one hardware class."""

    purpose: str  # claim | baseline | other-hardware | retiming
    hardware_class: str | None
    n_runs: int
    val_loss_mean: float | None
    val_loss_std: float | None
    p_value: float | None  # one-sided t-test: mean val loss < the track's target
    time_ms_mean: float | None
    time_ms_std: float | None


class EvidenceClaimPublic(BaseModel):
    """The optimization table's evidence cell, e.g. "3.2790 (n=20)✓"."""

    val_loss: float | None
    runs: int | None
    ok: bool | None


class ImportedPublic(BaseModel):
    badge: str  # "imported, self-reported"
    number: int  # the README's record number
    claimed: str  # the figure as written: "2.933 minutes", "3325(!)"
    claimed_time_ms: float | None  # the README's time (what the track ranks by)
    claimed_steps: int | None  # optimization track: steps to the target
    logged_time_ms: float | None  # mean final train_time of its claim runs' logs
    is_record: bool  # false: a notable result that never held the record (no "(!)")
    date: date | None
    description: str
    links: list[LinkPublic]  # links in the description (announcements, write-ups)
    contributors: list[str]  # @handles
    contributors_text: str
    log_links: list[LinkPublic]
    pr_url: str | None
    folder: str | None  # the record folder in the checkout
    logs: str  # "logged" | "no logs"
    logs_detail: str  # why there are no logs, or where they came from
    match: str = ""  # how the row found its logs: file, folder, moved, missing, no-log, ...
    evidence: EvidenceClaimPublic | None = None
    retimings: list[RetimingPublic] = []
    run_groups: list[RunGroupPublic] = []  # claim runs, baseline runs, ... with statistics
    statistics_md: list[dict[str, Any]] = []  # what the folder's statistics.md files claim
