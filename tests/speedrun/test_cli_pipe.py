"""Every `speedrun` command ends quietly with exit 0 when the reader closes its stdout early
(`speedrun ... | head -n 1`), as Unix tools do: no traceback, no failure for `set -o pipefail`.

Two ways to close the pipe: the real `head -n 1` of a shell pipeline, many times (the race the
demo lost), and a pipe whose reading end is closed before the command starts (every write fails:
deterministic)."""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
from support.loop import SPEEDRUN, start_server

REPEATS = 12


def piped_to_head(
    args: list[str], env: dict[str, str], folder: Path
) -> subprocess.CompletedProcess[str]:
    """`speedrun ARGS | head -n 1` under `set -o pipefail`; its exit code and stderr on stderr."""
    cmd = " ".join(shlex.quote(a) for a in [*SPEEDRUN, *args])
    err = shlex.quote(str(folder / "stderr.txt"))
    script = f"set -o pipefail; {cmd} 2>{err} | head -n 1; echo rc=$? >&2; cat {err} >&2"
    return subprocess.run(
        ["bash", "-c", script], capture_output=True, text=True, env=env, timeout=120, check=False
    )


def with_reader_closed(args: list[str], env: dict[str, str]) -> tuple[int, str]:
    """The command writing into a pipe nobody reads any more; its exit code and stderr."""
    read_end, write_end = os.pipe()
    os.close(read_end)
    try:
        proc = subprocess.run(
            [*SPEEDRUN, *args],
            stdout=write_end,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
            timeout=120,
            check=False,
        )
    finally:
        os.close(write_end)
    return proc.returncode, proc.stderr


def assert_quiet_success(result: subprocess.CompletedProcess[str]) -> None:
    assert "rc=0" in result.stderr, result.stderr
    assert "Traceback" not in result.stderr and "BrokenPipe" not in result.stderr, result.stderr
    assert len(result.stdout.splitlines()) == 1


def test_tracks_under_head_exits_zero_every_time(tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}  # a write per line: the pipe closes mid-output
    for _ in range(REPEATS):
        assert_quiet_success(piped_to_head(["tracks", "--all"], env, tmp_path))
    code, err = with_reader_closed(["tracks", "--all", "--json"], env)
    assert code == 0 and err == "", err


def test_help_with_reader_closed_exits_zero() -> None:
    code, err = with_reader_closed(["--help"], dict(os.environ))
    assert code == 0 and "Traceback" not in err, err


@pytest.mark.slow
def test_submit_under_head_exits_zero_every_time(tmp_path: Path) -> None:
    server = start_server(str(tmp_path / "speedrun.db"), tmp_path / "server")
    try:
        token = server.admin("token-create", "piper").strip().splitlines()[-1]
        variant = Path(__file__).resolve().parents[2] / "records" / "seed-recipe" / "train_gpt.py"
        args = ["submit", str(variant), "--track", "cpu-tiny", "--server", server.url]
        args += ["--token", token]
        for unbuffered in ("1", ""):  # line by line, and both lines in one write at exit
            env = {**server.env, "PYTHONUNBUFFERED": unbuffered}
            for _ in range(REPEATS // 2):
                result = piped_to_head(args, env, tmp_path)
                assert_quiet_success(result)
                assert result.stdout.startswith("submission ")
        code, err = with_reader_closed(args, server.env)
        assert code == 0 and err == "", err
        # Each piped submission was made, none lost: the next one is number REPEATS + 2.
        last = subprocess.run(
            [*SPEEDRUN, *args], capture_output=True, text=True, env=server.env, timeout=120
        )
        assert last.stdout.startswith(f"submission {REPEATS + 2}:"), last.stdout + last.stderr
    finally:
        server.kill()


def test_a_broken_socket_is_not_mistaken_for_a_closed_stdout() -> None:
    """BrokenPipeError from anything but stdout's reader still fails loudly."""
    code = (
        "import sys\n"
        "from speedrun import cli\n"
        "def boom(args): raise BrokenPipeError(32, 'socket')\n"
        "cli.run_command = lambda argv: boom(argv)\n"
        "sys.exit(cli.main([]))\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False
    )
    assert proc.returncode != 0 and "BrokenPipeError" in proc.stderr
