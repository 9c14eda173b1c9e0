"""An attempt's export and its evaluation: the model file's hash when the `export` event
arrives (`ExportWatch`), then a copy of it evaluated in a process of its own (`evaluate`)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from runner import verdicts
from runner.attempt_context import SessionContext
from runner.attempt_specs import eval_spec
from runner.backends import ProcessResult
from runner.safefs import UnsafeFileError, copy_regular_file, hash_regular_file, read_regular_file
from runner.workspace import Workspace
from speedrun.data import shards
from speedrun.harness import MODEL_FILE

MAX_MODEL_BYTES = 8 * 1024**3


@dataclass(frozen=True)
class EvalRun:
    result: dict[str, Any] | None  # the evaluator's JSON, when it wrote one
    process: ProcessResult | None
    error: str | None  # why there is no loss (copying the model, crash, timeout)
    model_sha256: str | None = None  # of the copy the evaluator read


class ExportWatch:
    """The model file's sha256 when the `export` event arrives: after that, the file must not
    change (what is evaluated is what existed when the clock stopped)."""

    def __init__(self, ws: Workspace) -> None:
        self.ws = ws
        self.seen = False
        self.sha256: str | None = None
        self.error = ""

    def on_export(self) -> None:
        if self.seen:
            return
        self.seen = True
        try:
            self.sha256 = hash_regular_file(self.ws.out, MODEL_FILE, max_bytes=MAX_MODEL_BYTES)
        except (UnsafeFileError, OSError) as exc:
            self.error = str(exc)

    def problems(self, evaluated_sha256: str | None) -> list[str]:
        if not self.seen:
            return []
        if self.sha256 is None:
            return [f"no model file when the export event arrived ({self.error[:200]})"]
        if evaluated_sha256 != self.sha256:
            return ["the model file changed (or vanished) after the export event"]
        return []


def evaluate(ctx: SessionContext, ws: Workspace, run_id: str) -> EvalRun:
    """Copy the export out of the training's directory (no link followed) and evaluate it
    in a process of its own, the only one that sees the scored tokens."""
    model = ws.eval_model / MODEL_FILE
    try:
        copy_regular_file(ws.out, MODEL_FILE, model, max_bytes=MAX_MODEL_BYTES)
    except (UnsafeFileError, FileNotFoundError) as exc:
        return EvalRun(None, None, f"no usable exported model at {MODEL_FILE}: {exc}")
    model.chmod(0o644)
    digest = shards.sha256_file(model)
    proc = ctx.backend.run(eval_spec(ctx, ws, run_id))
    if proc.timed_out:
        return EvalRun(None, proc, f"evaluation exceeded {ctx.eval_limit_s:.0f} s", digest)
    try:
        result = json.loads(read_regular_file(ws.eval_out, "result.json", max_bytes=1 << 20))
    except (UnsafeFileError, FileNotFoundError, ValueError):
        tail = verdicts.last_lines(proc.output, 3)
        return EvalRun(None, proc, f"evaluator exited {proc.exit_code}: {tail}", digest)
    return EvalRun(result if isinstance(result, dict) else None, proc, None, digest)
