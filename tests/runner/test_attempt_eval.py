"""runner.attempt_eval: the export is hashed when its event arrives, and what is evaluated must
be that file (changed, vanished or linked files are breaches); the evaluation copies it out
of the training's folder without following links and runs the evaluator in its own process,
and every way it can fail is an error that says why (no model, a crash)."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import pytest
from runner_helpers import session_context

from runner.attempt_eval import ExportWatch, evaluate
from runner.workspace import Workspace
from speedrun.harness import MODEL_FILE


@pytest.fixture
def ws(tmp_path: Path) -> Any:
    workspace = Workspace.create(b"print(1)\n", "train_gpt.py", parent=tmp_path)
    yield workspace
    workspace.remove()


def test_the_export_is_hashed_once_when_its_event_arrives(ws: Any) -> None:
    (ws.out / MODEL_FILE).write_bytes(b"model v1")
    watch = ExportWatch(ws)
    assert watch.problems(None) == []  # no export event: nothing to hold it to
    watch.on_export()
    digest = hashlib.sha256(b"model v1").hexdigest()
    assert watch.sha256 == digest
    (ws.out / MODEL_FILE).write_bytes(b"model v2")
    watch.on_export()  # a second event does not move the reference
    assert watch.sha256 == digest
    assert watch.problems(digest) == []
    assert watch.problems(hashlib.sha256(b"model v2").hexdigest()) == [
        "the model file changed (or vanished) after the export event"
    ]
    assert watch.problems(None) == ["the model file changed (or vanished) after the export event"]


def test_an_export_event_without_a_file_or_through_a_link_is_a_breach(
    ws: Any, tmp_path: Path
) -> None:
    missing = ExportWatch(ws)
    missing.on_export()
    [problem] = missing.problems("ab" * 32)
    assert problem.startswith("no model file when the export event arrived")
    target = tmp_path / "elsewhere.pt2"
    target.write_bytes(b"model")
    (ws.out / MODEL_FILE).symlink_to(target)
    linked = ExportWatch(ws)
    linked.on_export()
    assert linked.sha256 is None and linked.problems(None)[0].startswith("no model file")


def test_without_a_usable_export_nothing_is_run(
    ws: Any, smoke_data_dir: Path, tmp_path: Path
) -> None:
    ctx = session_context(smoke_data_dir, tmp_path)
    run = evaluate(ctx, ws, "run1")
    assert run.process is None and run.result is None and run.model_sha256 is None
    assert run.error is not None and run.error.startswith(
        f"no usable exported model at {MODEL_FILE}"
    )


def test_a_refused_archive_comes_back_as_the_evaluators_result(
    ws: Any, smoke_data_dir: Path, tmp_path: Path
) -> None:
    ctx = session_context(smoke_data_dir, tmp_path)
    (ws.out / MODEL_FILE).write_bytes(b"not a torch.export archive")
    run = evaluate(ctx, ws, "run2")
    assert run.model_sha256 == hashlib.sha256(b"not a torch.export archive").hexdigest()
    assert run.process is not None and run.process.exit_code == 3 and run.error is None
    assert run.result == {
        "ok": False,
        "refused": "the archive is not a readable zip: File is not a zip file",
    }
    assert (ws.eval_model / MODEL_FILE).read_bytes() == b"not a torch.export archive"  # a copy


def test_an_evaluator_that_dies_without_a_result_says_how_it_ended(
    ws: Any, smoke_data_dir: Path, tmp_path: Path
) -> None:
    ctx = session_context(smoke_data_dir, tmp_path, time_limit_s=60.0)
    (ws.out / MODEL_FILE).write_bytes(b"model")
    (ws.eval_out / "result.json").mkdir()  # the evaluator cannot write its result there
    run = evaluate(ctx, ws, "run3")
    assert run.result is None and run.process is not None
    assert run.error is not None and run.error.startswith(
        f"evaluator exited {run.process.exit_code}: "
    )
