"""The open data's columns: name, Arrow type and meaning, in one place for the Parquet
schemas (each field's `description` metadata), the tables' documentation (`data/README.md`
in a snapshot) and the tests.

Every figure comes with its evidence level, the column beside it that ends in `_evidence`:

* `runner-measured`: timed by the runner's own clock and signed in its bundle;
* `independently-evaluated`: val loss computed by the runner from the final weights, in a
  process the training never ran in;
* `self-reported`: as the training script printed it;
* `imported`: from the speedrun's README and logs (its authors' own figures, not re-run here).
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import pyarrow as pa

EVIDENCE_LEVELS = {
    "runner-measured": "timed by the runner's own clock and signed in its bundle",
    "independently-evaluated": "val loss computed by the runner from the final weights, "
    "in a separate process",
    "self-reported": "as the training script printed it",
    "imported": "from the speedrun's README and logs (not re-run here)",
}


@dataclass(frozen=True)
class Column:
    name: str
    type: pa.DataType
    doc: str


UTC = pa.timestamp("us", tz="UTC")
STR, INT, F64, BOOL = pa.string(), pa.int64(), pa.float64(), pa.bool_()
STRS = pa.list_(pa.string())
EVIDENCE = "evidence level of the figure beside it: " + " | ".join(EVIDENCE_LEVELS)

TRACK = (
    Column("track_id", STR, "track id, e.g. cpu-tiny"),
    Column("track_version", INT, "track version: records never compare across versions"),
    Column("track_key", STR, "track id@vVERSION"),
)
STATS = (
    Column("time_ms_mean", F64, "mean training time over the counted runs, ms"),
    Column("time_ms_std", F64, "sample standard deviation (ddof=1) of those times, ms"),
    Column("time_ms_n", INT, "runs the time statistics are over"),
    Column("time_evidence", STR, EVIDENCE),
    Column("val_loss_mean", F64, "mean validation loss over the counted runs"),
    Column("val_loss_std", F64, "sample standard deviation (ddof=1) of those losses"),
    Column("val_loss_n", INT, "runs the loss statistics are over"),
    Column("val_loss_evidence", STR, EVIDENCE + ", or mixed"),
    Column("p_value", F64, "one-sided t-test: mean val loss below the track's target"),
)

RUNS = (
    Column("run_id", STR, "the run's id (its page: /runs/RUN_ID)"),
    Column("attempt_id", INT, "the attempt (one variant on one track version) it belongs to"),
    Column("record_id", INT, "the record its attempt became, if any"),
    *TRACK,
    Column("variant_sha256", STR, "sha256 of the variant's train_gpt.py"),
    Column("origin", STR, "verified (a signed bundle) | imported (the speedrun's history)"),
    Column("purpose", STR, "claim | reverify | unsolicited | ab-baseline | imported kinds"),
    Column("status", STR, "as the server re-checked it: a run breaking a rule is rule_violation"),
    Column("official", BOOL, "a record backend on the track's hardware and held-out data"),
    Column("counts", BOOL, "counts toward its attempt's record statistics"),
    Column("not_counted", STRS, "why it does not count (empty: it does)"),
    Column("violations", STRS, "the rules it broke, as the server re-checked them"),
    Column("time_ms", F64, "training time, ms"),
    Column("time_evidence", STR, EVIDENCE),
    Column("val_loss", F64, "final validation loss"),
    Column("val_loss_evidence", STR, EVIDENCE),
    Column("claimed_time_ms", F64, "the script's own training time (imported: the claim), ms"),
    Column("claimed_time_evidence", STR, EVIDENCE),
    Column("steps", INT, "training steps, as the manifest's figures give them"),
    Column("train_tokens", INT, "training tokens, as the manifest's figures give them"),
    Column("machine", STR, "the machine that ran it (speedrun.machine_id's short key)"),
    Column("forward_flops_per_token", F64, "forward FLOPs per token of the exported model"),
    Column("forward_flops_evidence", STR, EVIDENCE + " (counted by the runner's evaluator)"),
    Column("training_flops", F64, "3 x forward FLOPs per token x the tokens trained on"),
    Column("training_flops_evidence", STR, EVIDENCE + " (the tokens are the variant's word)"),
    Column("mfu", F64, "model FLOPs utilization: training FLOPs / (time x the peak below)"),
    Column("peak_source", STR, "where the peak FLOP rate behind mfu comes from"),
    Column("seed", INT, "the run's seed"),
    Column("backend", STR, "docker | local | imported"),
    Column("runner", STR, "the registered runner whose key signed the bundle"),
    Column("hardware_class", STR, "hardware class from the fingerprint"),
    Column("accelerator_count", INT, "accelerators (GPUs, or CPU processes) used"),
    Column("image_digest", STR, "container image digest the run used"),
    Column("exit_reason", STR, "why the run ended other than completed, if it did"),
    Column("job_id", INT, "the server job it ran for (none: unsolicited or imported)"),
    Column("ab_session", STR, "A/B session id of a paired run"),
    Column("ab_role", STR, "candidate | baseline in an A/B session"),
    Column("started_at", UTC, "start of the run (UTC)"),
    Column("finished_at", UTC, "end of the run (UTC)"),
    Column("ingested_at", UTC, "when the server stored it (UTC)"),
    Column("bundle_sha256", STR, "sha256 of the signed bundle (none for imported runs)"),
    Column("bundle_path", STR, "the bundle in this snapshot, relative to data/"),
)

RECORDS = (
    Column("record_id", INT, "the record's id (its page: /records/RECORD_ID)"),
    *TRACK,
    Column("rank", INT, "place on its track version, as the leaderboard ranks"),
    Column("status", STR, "current | superseded"),
    Column("origin", STR, "verified | imported"),
    Column("attempt_id", INT, "the attempt that became this record"),
    Column("variant_sha256", STR, "sha256 of the variant's train_gpt.py"),
    Column("name", STR, "the record's human name"),
    Column("description", STR, "what the variant changes"),
    Column("submitter", STR, "who submitted it"),
    Column("established_at", UTC, "when it became the record (UTC)"),
    Column("superseded_at", UTC, "when a faster record replaced it (UTC)"),
    Column("previous_record_id", INT, "the record it beat"),
    *STATS,
    Column(
        "beat_method", STR, "how it beat the previous record: first | welch | paired | imported"
    ),
    Column("beat_p_value", F64, "p-value of that comparison"),
    Column("beat_speedup", F64, "speedup over the previous record"),
    Column("claimed_time_ms", F64, "imported: the README's time (what the track ranks), ms"),
    Column("claimed_steps", INT, "imported: the README's steps to the target"),
    Column("claimed_evidence", STR, EVIDENCE),
    Column("readme_number", INT, "imported: the README row's record number"),
    Column("hardware_class", STR, "hardware class of the counted runs"),
    Column("accelerator_count", INT, "accelerators of the counted runs"),
    Column("accelerator_hours", F64, "accelerators x mean time, hours"),
    Column("runners", STRS, "registered runners whose signatures vouch for the runs"),
    Column("official", BOOL, "its figures are over official, independently evaluated runs"),
    Column("verification", STR, "latest re-verification: reproduced | drifted | failed"),
    Column("verified_at", UTC, "when that re-verification was recorded (UTC)"),
    Column("n_runs", INT, "runs of its attempt, of every purpose"),
)

ATTEMPTS = (
    Column("attempt_id", INT, "the attempt's id (JSON: /api/v1/attempts/ATTEMPT_ID)"),
    *TRACK,
    Column("origin", STR, "verified | imported"),
    Column("variant_sha256", STR, "sha256 of the variant's train_gpt.py"),
    Column("name", STR, "the variant's human name"),
    Column("description", STR, "what the variant changes"),
    Column("submitter", STR, "who submitted it"),
    Column("created_at", UTC, "when the attempt was first seen (UTC)"),
    Column("record_id", INT, "the record it became, if any"),
    Column("n_runs", INT, "runs of its submission jobs, whatever became of them"),
    Column("n_counted", INT, "runs the statistics are over"),
    Column("n_unsolicited", INT, "runs uploaded outside any job: shown, never counted"),
    Column("official", BOOL, "its figures are over official, independently evaluated runs"),
    *STATS,
    Column("qualifies", BOOL, "meets the track's claim rule (runs, target, significance)"),
    Column("reason", STR, "why not, or 'meets the rule'"),
)

TABLES = {
    "runs": (RUNS, "one row per run: every figure with its evidence level"),
    "records": (RECORDS, "one row per record, current and superseded, on every track version"),
    "attempts": (ATTEMPTS, "one row per attempt: one variant on one track version"),
}


def schema(name: str) -> pa.Schema:
    """The table's Arrow schema: each field documented in its own metadata, the table in the
    schema's (`description`, and `columns`: every column's doc as one JSON object)."""
    columns, doc = TABLES[name]
    fields = [pa.field(c.name, c.type, metadata={"description": c.doc}) for c in columns]
    docs = json.dumps({c.name: c.doc for c in columns})
    return pa.schema(fields, metadata={"description": doc, "columns": docs})


def readme() -> str:
    """`data/README.md`: the files and every column, as Markdown."""
    lines = [
        "# Open data",
        "",
        "The leaderboard's whole history, rebuilt with every change. Read it with",
        "`pandas.read_parquet('runs.parquet')`, DuckDB (`SELECT * FROM 'records.parquet'`) or",
        "`datasets.load_dataset('parquet', data_files='attempts.parquet')`. The signed bundles",
        "are in `bundles/` (index: `bundles/index.json`; check one with `speedrun verify`).",
        "",
        "Evidence levels (the `*_evidence` column beside each figure):",
        "",
        *(f"- `{k}`: {v}" for k, v in EVIDENCE_LEVELS.items()),
    ]
    for name, (columns, doc) in TABLES.items():
        lines += ["", f"## {name}.parquet", "", doc[0].upper() + doc[1:] + ".", ""]
        lines += ["| column | type | meaning |", "| --- | --- | --- |"]
        lines += [f"| `{c.name}` | {c.type} | {c.doc.replace('|', '/')} |" for c in columns]
    return "\n".join(lines) + "\n"
