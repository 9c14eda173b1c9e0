"""Imported history: the speedrun's past records, read from modded-nanogpt logs by the
importer (`speedrun records import`, history_import.py), and the documents it stores.

They are evidence of a different kind, so they are marked and kept apart:
* every row has `origin="imported"`; runs are unofficial, their loss `self-reported`, their
  `time_ms` the logged train_time and `claimed_time_ms` the time the README claimed;
* they live on their own track family (e.g. `modded-nanogpt-short@v1`, defined as a track
  whose `record_backends` is empty), so a verified attempt never has to beat, or is ranked
  with, a self-reported one; a record's `beat.method` is "imported";
* the importer (`history.plan`, then `history.write`) writes a whole checkout in one
  transaction, keyed by natural keys: importing it again changes nothing.

The checkout importer keeps what the README says of a record (`decision_json["imported"]`,
read back as `ImportedPublic` by `imported_public`) and what each log says of its run
(`manifest_json`: file, run index, code sha256, versions, GPUs, peak memory, ...).
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from typing import Any, NamedTuple

from server.models import Record
from server.schemas.history import ImportedPublic
from server.services.history.plan import RecordPlan, RunPlan
from speedrun.history import Link, RecordRow, RowMatch, summarize

BADGE = "imported, self-reported"


def imported_public(record: Record, logged_time_ms: float | None) -> ImportedPublic | None:
    """What the README said of an imported record (None for records the importer of a
    checkout did not write), beside the time its logs show."""
    if record.origin != "imported":
        return None
    claim = json.loads(record.decision_json or "{}").get("imported")
    if not isinstance(claim, dict):
        return None
    return ImportedPublic.model_validate({**claim, "logged_time_ms": logged_time_ms})


class StoredRun(NamedTuple):
    """The columns of a stored imported run that the record's document summarises."""

    purpose: str
    hardware_class: str | None
    time_ms: float | None
    val_loss: float | None
    log_sha256: str | None


def decision_json(plan: RecordPlan, runs: Sequence[StoredRun]) -> str:
    """The record's `decision_json`: how it became a record (the README said so), what the
    README row says of it, and statistics over its stored runs (`runs`: so importing an
    older checkout, which lacks some logs, leaves it as it is). Stable: no line numbers."""
    row = plan.row
    detail = "a record in the speedrun's README" if plan.is_record else "a notable result"
    doc = {
        "beat": {"method": "imported", "p_value": None, "speedup": None, "detail": detail},
        "imported": {
            "badge": BADGE,
            "number": row.number,
            "claimed": row.time_text,
            "claimed_time_ms": row.time_ms,
            "claimed_steps": row.steps,
            "is_record": plan.is_record,
            "date": row.date.isoformat() if row.date else None,
            "description": row.description,
            "links": _links(row.description_links),
            "contributors": list(row.contributors),
            "contributors_text": row.contributors_text,
            "log_links": _links(row.log_links),
            "pr_url": row.pr_url,
            "folder": plan.folder.path if plan.folder else None,
            "logs": "logged" if _own(runs) else "no logs",
            "logs_detail": _logs_detail(plan.match, _own(runs)),
            "match": plan.match.how,
            "evidence": _evidence(row),
            "retimings": [_retiming(plan, r, m) for r, m in plan.retimings],
            "run_groups": _run_groups(runs, plan.track.rules.target_val_loss),
            "statistics_md": _statistics_md(plan),
        },
    }
    return json.dumps(_finite(doc), sort_keys=True, allow_nan=False)


def run_manifest(run: RunPlan) -> str:
    """An imported run's `manifest_json`: where its log came from and what the log says."""
    p = run.folder_run.run
    doc = {
        "imported_from": run.path,
        "run_index": run.index,
        "runs_in_file": run.runs_in_file,
        "log_sha256": run.log_sha256,
        "log_bytes": run.log_bytes,
        "readme_row": run.row_key,
        "role": run.folder_run.role,
        "subfolder": run.folder_run.subfolder,
        "purpose": run.purpose,
        "format": p.format,
        "code_sha256": p.code_sha256,
        "versions": p.versions,
        "gpu_model": p.gpu_model,
        "gpu_count": p.gpu_count,
        "total_steps": p.total_steps,
        "completed": p.completed,
        "val_points": len(p.val_points),
        "train_points": len(p.train_points),
        "warmup_points": len(p.warmup_points),
        "final_val_loss": p.final_val_loss,
        "final_train_time_ms": p.final_train_time_ms,
        "peak_memory_allocated_mib": p.peak_memory_allocated_mib,
        "peak_memory_reserved_mib": p.peak_memory_reserved_mib,
        "warnings": list(p.warnings),
    }
    return json.dumps(_finite(doc), sort_keys=True, allow_nan=False)


def _finite(value: Any) -> Any:
    """NaN and infinities (never in a sane log, but logs are not always sane) become null."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(v) for v in value]
    return value


def _links(links: Sequence[Link]) -> list[dict[str, Any]]:
    return [{"text": k.text, "url": k.url, "path": k.path} for k in links]


def _own(runs: Sequence[StoredRun]) -> list[StoredRun]:
    return [r for r in runs if r.purpose != "retiming"]


def _logs_detail(match: RowMatch, runs: Sequence[StoredRun]) -> str:
    if runs:
        files = len({r.log_sha256 for r in runs})
        where = match.folder.path if match.folder else "the checkout"
        return f"{_count(len(runs), 'run')} from {_count(files, 'log file')} in {where}"
    if match.how == "no-log":
        return f"the README links no log ({match.row.log_cell or 'empty'})"
    if match.how == "missing":
        return f"the linked log is not in this checkout: {match.detail}"
    where = match.folder.path if match.folder else "its folder"
    return f"no log in {where} could be parsed"


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


def _evidence(row: RecordRow) -> dict[str, Any] | None:
    if row.evidence_val_loss is None and row.evidence_runs is None:
        return None
    return {"val_loss": row.evidence_val_loss, "runs": row.evidence_runs, "ok": row.evidence_ok}


def _retiming(plan: RecordPlan, row: RecordRow, match: RowMatch) -> dict[str, Any]:
    key = f"{row.number}@{row.date.isoformat() if row.date else 'undated'}"
    runs = [r for r in plan.runs if r.purpose == "retiming" and r.row_key == key]
    return {
        "claimed": row.time_text,
        "claimed_time_ms": row.time_ms,
        "date": row.date.isoformat() if row.date else None,
        "description": row.description,
        "note": row.contributors_text,
        "log_links": _links(row.log_links),
        "logs": "logged" if runs else "no logs",
        "runs": len(runs),
    }


def _run_groups(runs: Sequence[StoredRun], target: float) -> list[dict[str, Any]]:
    """Statistics per (purpose, hardware): mean loss, p-value vs the track's target, time."""
    groups = []
    for purpose, hardware in dict.fromkeys((r.purpose, r.hardware_class) for r in runs):
        group = [r for r in runs if (r.purpose, r.hardware_class) == (purpose, hardware)]
        st = summarize(
            [r.val_loss for r in group], [r.time_ms for r in group], target_val_loss=target
        )
        groups.append(
            {
                "purpose": purpose,
                "hardware_class": hardware,
                "n_runs": len(group),
                "val_loss_mean": st.mean_val_loss,
                "val_loss_std": st.std_val_loss,
                "p_value": st.p_value,
                "time_ms_mean": st.mean_train_time_ms,
                "time_ms_std": st.std_train_time_ms,
            }
        )
    return groups


def _statistics_md(plan: RecordPlan) -> list[dict[str, Any]]:
    if plan.folder is None:
        return []
    return [
        {"path": d.path, "runs": d.runs, "metrics": d.metrics} for d in plan.folder.statistics_docs
    ]
