"""runner.stdio_site: installed as sitecustomize, it makes every line of a variant's processes
one write, so ranks that fail together leave readable causes. Shown with real interpreters
failing at the same instant into one pipe, as torchrun's workers do; the same processes
without it garble their last lines."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from runner.stdio_site import SITE_MODULE, install

PROCESSES = 12
CAUSE = "ValueError: out of ideas"


def clean_causes(site_folder: Path | None) -> int:
    """Start PROCESSES interpreters writing unbuffered into one pipe, each raising at the
    same instant; how many of their last lines read whole."""
    start = time.time() + 0.5
    source = f"import time\nwhile time.time() < {start}: pass\nraise ValueError('out of ideas')\n"
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "PYTHONPATH": str(site_folder or "")}
    read, write = os.pipe()
    procs = [
        subprocess.Popen([sys.executable, "-c", source], env=env, stdout=write, stderr=write)
        for _ in range(PROCESSES)
    ]
    os.close(write)
    chunks = []
    while chunk := os.read(read, 65536):
        chunks.append(chunk)
    os.close(read)
    assert all(p.wait() == 1 for p in procs)
    return b"".join(chunks).decode().splitlines().count(CAUSE)


def test_processes_failing_together_leave_whole_causes(tmp_path: Path) -> None:
    install(tmp_path)
    assert [clean_causes(tmp_path) for _ in range(3)] == [PROCESSES] * 3


def test_without_it_the_same_processes_garble_their_causes() -> None:
    # the test above can fail: unbuffered, the pieces of a cause interleave (within a few rounds)
    assert any(clean_causes(None) < PROCESSES for _ in range(10))


def test_install_writes_a_read_only_sitecustomize_that_python_runs(tmp_path: Path) -> None:
    target = install(tmp_path)
    assert target == tmp_path / SITE_MODULE and target.stat().st_mode & 0o777 == 0o444
    probe = "import sys; print(sys.stderr.line_buffering, sys.stderr.write_through)"
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "PYTHONPATH": str(tmp_path)}
    out = subprocess.run([sys.executable, "-c", probe], env=env, capture_output=True, text=True)
    assert out.stdout.split() == ["True", "False"]  # whole lines, each flushed at its newline


def test_install_into_a_missing_folder_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        install(tmp_path / "absent")


def test_a_sitecustomize_it_hides_still_runs(tmp_path: Path) -> None:
    ours, theirs = tmp_path / "ours", tmp_path / "theirs"
    ours.mkdir(), theirs.mkdir()
    install(ours)
    (theirs / SITE_MODULE).write_text("import builtins\nbuiltins.IMAGE_SITE = 'ran'\n")
    probe = "import builtins, sys; print(builtins.IMAGE_SITE, sys.stderr.line_buffering)"
    path = os.pathsep.join([str(ours), str(theirs)])
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "PYTHONPATH": path}
    out = subprocess.run([sys.executable, "-c", probe], env=env, capture_output=True, text=True)
    assert out.stdout.split() == ["ran", "True"], out.stderr
