"""Whole lines from a variant's processes: installed as `sitecustomize` in its workspace.

Every rank of a variant writes to the one stream the runner reads, unbuffered
(PYTHONUNBUFFERED keeps a killed run's last lines). Unbuffered, Python writes an exception's
last line in pieces (its type, ": ", its message), so two ranks that fail together interleave
them ("ValueErrorValueError: : ...") and the run's stated cause is garbled. Line buffering on
top of the unbuffered file makes each line one write: still nothing is held back past its
newline, and lines from different ranks no longer mix.

The runner copies this file's source into the workspace's read-only control folder and puts
that folder first on the variant's PYTHONPATH; the variant can undo it, which costs it only
the readability of its own log. A `sitecustomize` it hides (an image's, a virtualenv's) still
runs, after it.
"""

from __future__ import annotations

import importlib.machinery
import importlib.util
import os
import sys
from pathlib import Path

SITE_MODULE = "sitecustomize.py"


def whole_lines() -> None:
    """Each stream of this process writes whole lines at a time (a line over the text layer's
    chunk size may still go in pieces)."""
    for stream in (sys.stdout, sys.stderr):
        reconfigure = getattr(stream, "reconfigure", None)
        if reconfigure is not None:
            reconfigure(line_buffering=True, write_through=False)


def run_hidden(own_folder: str) -> None:
    """Run the next `sitecustomize` on sys.path after `own_folder`'s, which this one hides."""
    own = os.path.realpath(own_folder)
    rest = [p for p in sys.path if os.path.realpath(p or os.curdir) != own]
    spec = importlib.machinery.PathFinder.find_spec("sitecustomize", rest)
    if spec is not None and spec.loader is not None:
        spec.loader.exec_module(importlib.util.module_from_spec(spec))


def install(folder: Path) -> Path:
    """Write this module as `sitecustomize.py` into folder, readable by the sandbox."""
    target = folder / SITE_MODULE
    target.write_text(Path(__file__).read_text(encoding="utf-8"), encoding="utf-8")
    target.chmod(0o444)
    return target


if __name__ == "sitecustomize":
    whole_lines()
    run_hidden(os.path.dirname(os.path.abspath(__file__)))
