"""Tracks as the API shows them."""

from __future__ import annotations

from pydantic import BaseModel


class HardwarePublic(BaseModel):
    hardware_class: str
    accelerator: str
    count: int


class RulesPublic(BaseModel):
    target_val_loss: float
    runs_required: int
    significance_alpha: float
    beat_alpha: float
    min_speedup: float
    paired_ab: bool
    record_backends: list[str]


class TrackPublic(BaseModel):
    id: str
    version: int
    key: str
    title: str
    description: str
    hidden: bool
    hardware: HardwarePublic
    rules: RulesPublic
    time_limit_s: int
    leaderboard_url: str
    family: str = "runner"  # runner | imported (the speedrun's self-reported history)
    ranked_by: str = "time"  # time | steps (the optimization history track)
    page_url: str | None = None  # the HTML twin


class TracksPublic(BaseModel):
    data: list[TrackPublic]
    count: int


class RuleLine(BaseModel):
    label: str  # data | target | beat | hardware | model | limits | fails | held out
    text: str


class TrackRules(BaseModel):
    """A track that takes submissions, each of its rules as `speedrun tracks` prints it."""

    track: TrackPublic
    rules: list[RuleLine]


class Step(BaseModel):
    what: str
    command: str


class TakePartPublic(BaseModel):
    """How to enter (the "take part" page's twin): the open tracks' rules in full, the
    harness contract in brief, the commands to try a variant and to submit it, and how a
    submitter gets a token."""

    tracks: list[TrackRules]
    closed: list[str]  # tracks on show that take no runs: imported history, retired versions
    contract: list[str]
    try_locally: list[Step]
    submit: list[Step]
    token: str
    page_url: str = "/take-part"
