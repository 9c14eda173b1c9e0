"""Helpers for the runner's tests: the CLI in-process, bundle access, test variants."""

from __future__ import annotations

import contextlib
import io
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from speedrun.bundle import Bundle, read_bundle
from speedrun.cli import main

HERE = Path(__file__).resolve().parent
VARIANTS = HERE / "variants"
REPO = HERE.parents[1]
SEED_RECIPE = REPO / "records" / "seed-recipe" / "train_gpt.py"
TINY = VARIANTS / "tiny_harness.py"


def cli(*args: str) -> tuple[int, str, str]:
    """`speedrun ARGS` in this process: (exit code, stdout, stderr)."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = main(list(args))
        except SystemExit as exc:  # argparse errors
            code = int(exc.code or 0)
    return code, out.getvalue(), err.getvalue()


def bundles(out_dir: Path) -> list[Path]:
    return sorted(out_dir.glob("*.bundle.tar.gz"))


@dataclass(frozen=True)
class Session:
    """A `speedrun run` in this process: its output folder, exit code and output."""

    out: Path
    code: int
    stdout: str
    stderr: str

    @property
    def bundles(self) -> list[Path]:
        return bundles(self.out)


def load(path: Path) -> Bundle:
    return read_bundle(path.read_bytes())


def summary(out_dir: Path) -> dict[str, Any]:
    (path,) = out_dir.glob("summary-*.json")
    data: dict[str, Any] = json.loads(path.read_text())
    return data


def tiny_variant(tmp_path: Path, name: str, hooks: dict[str, str]) -> Path:
    """The tiny harness variant with `# HOOK:<name>` lines replaced by code."""
    source = TINY.read_text()
    for hook, code in hooks.items():
        marker = f"# HOOK:{hook}"
        assert marker in source, marker
        indent = source.split(marker)[0].rsplit("\n", 1)[1]
        source = source.replace(marker, code.strip().replace("\n", "\n" + indent))
    path = tmp_path / f"{name}.py"
    path.write_text(source)
    return path


HOSTILE = VARIANTS / "hostile"


def filled_variant(template: Path, dest: Path, **values: object) -> Path:
    """A copy of `template` with each `NAME = ...  # FILL...` line set to `values[NAME]`."""
    lines = []
    for line in template.read_text().splitlines():
        name = line.split(" = ", 1)[0]
        if "  # FILL" in line and name in values:
            line = f"{name} = {values.pop(name)!r}"
        lines.append(line)
    assert not values, f"no FILL line for {sorted(values)}"
    dest.write_text("\n".join(lines) + "\n")
    return dest


def session_context(
    data_dir: Path, session_dir: Path, *, track_id: str = "cpu-smoke", **changes: Any
) -> Any:
    """A real `SessionContext` for attempts on this machine: the track's data fetched (or
    found) under `data_dir`, the local backend, a fresh key, quiet progress."""
    import uuid

    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from runner.attempt_context import SessionContext
    from runner.backends.local import LocalBackend
    from runner.progress import Progress
    from runner.trackdata import prepare_track_data
    from speedrun.tracks import get_track

    track = get_track(track_id)
    fields: dict[str, Any] = {
        "track": track,
        "backend": LocalBackend(),
        "key": Ed25519PrivateKey.generate(),
        "data": prepare_track_data(track, data_dir, session_dir, progress=False),
        "software": {"python": "3"},
        "hardware": {"accelerator": "cpu", "cpu_count": 2},
        "out_dir": session_dir / "out",
        "time_limit_s": 120.0,
        "progress": Progress(quiet=True, stream=io.StringIO()),
        "group_id": uuid.uuid4().hex,
        "work_parent": session_dir,
    }
    return SessionContext(**(fields | changes))
