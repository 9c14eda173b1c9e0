"""Compute and machines on the pages: runs grouped by the machine that ran them, a run's
FLOPs, MFU, calibration and machine conditions with its telemetry chart, and a track's
chart of time against training FLOPs. The figures are the API's (`server.schemas.compute`);
this module only arranges and draws them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from markupsafe import Markup

from server.schemas.compute import ConditionPublic, TelemetrySeries
from server.schemas.records import RecordEntry
from server.schemas.runs import RunBrief, RunPublic
from speedrun.tracks import Track
from web.charts import Point, Series, lines_svg, scatter_svg
from web.format import fmt_duration_s, fmt_flops


@dataclass(frozen=True)
class MachineGroup:
    key: str | None  # None: runs whose machine is unknown (imported history)
    label: str
    runs: list[RunBrief]


def by_machine(runs: Sequence[RunBrief]) -> list[MachineGroup]:
    """The runs grouped by machine, groups in order of each machine's first run."""
    groups: dict[str | None, MachineGroup] = {}
    for run in runs:
        key = run.machine.key if run.machine else None
        if key not in groups:
            label = run.machine.label if run.machine else "machine not recorded"
            groups[key] = MachineGroup(key, label, [])
        groups[key].runs.append(run)
    return list(groups.values())


def telemetry_chart(series: TelemetrySeries | None, cpus: float | None, chart_id: str) -> Markup:
    """Load per CPU, busy and steal share over the run: one chart, all three as shares (a
    load of 1 per CPU is every CPU busy, so they read on one axis)."""
    if series is None or not series.points:
        return Markup("")
    per_cpu = cpus if cpus and cpus > 0 else 1.0
    pts = series.points
    drawn = [
        Series(
            "load per CPU",
            tuple((p.t_s, p.load1 / per_cpu) for p in pts if p.load1 is not None),
        ),
        Series("busy share", tuple((p.t_s, p.busy_share) for p in pts if p.busy_share is not None)),
        Series(
            "steal share", tuple((p.t_s, p.steal_share) for p in pts if p.steal_share is not None)
        ),
    ]
    return lines_svg(
        drawn,
        chart_id=chart_id,
        title=f"Machine telemetry over the run, {series.samples} samples",
        desc=(
            "Lines: the 1-minute load per CPU, the share of CPU time busy and the share "
            f"stolen by the hypervisor; {len(pts)} points, each the mean of consecutive samples."
        ),
        x_label="time since the run started",
        y_label="share / load per CPU",
        x_format=fmt_duration_s,
    )


@dataclass(frozen=True)
class RunMachine:
    """What the run page shows of compute and of the machine's health."""

    chart: Markup
    below_calibration: bool
    conditions: list[ConditionPublic]
    series: TelemetrySeries | None


def run_machine(public: RunPublic) -> RunMachine:
    series = public.telemetry_series
    cpus = public.telemetry.cpu.get("cpus") if public.telemetry else None
    names = {c.name for c in public.conditions}
    return RunMachine(
        chart=telemetry_chart(series, cpus, "telemetry"),
        below_calibration="below_calibration" in names,
        conditions=public.conditions,
        series=series,
    )


def flops_chart(track: Track, entries: Sequence[RecordEntry], chart_id: str) -> Markup:
    """Each record's mean time against its mean training FLOPs (log-log)."""
    points = [
        Point(
            e.compute.training_flops,
            e.time_ms.mean / 1000,
            e.name or e.variant_sha256[:12],
            e.status == "current",
        )
        for e in entries
        if e.compute and e.compute.training_flops and e.time_ms
    ]
    return scatter_svg(
        points,
        chart_id=chart_id,
        title=f"Time against training compute on {track.key} (log-log)",
        desc=(
            f"{len(points)} records that measured compute; training FLOPs are 3 x the forward "
            "FLOPs per token x the tokens each variant reports (self-reported)."
        ),
        x_label="training FLOPs (self-reported tokens)",
        y_label="training time",
        x_format=fmt_flops,
        y_format=fmt_duration_s,
    )
