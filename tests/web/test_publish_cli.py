"""`speedrun publish` as a command: a snapshot and one summary line, `--incremental` redoing
only what changed, and bad --out, --db or --base-url answered with one line naming the
problem, exit 2, and nothing written."""

from __future__ import annotations

import pytest
from publish_helpers import small_site

from speedrun.cli import main

pytestmark = pytest.mark.slow  # a site, its records and whole builds: seconds


def test_publish_then_refresh(tmp_path, capsys):
    site = small_site(tmp_path)
    site.record("print('a')\n", 3000.0)
    out = tmp_path / "snap"
    args = ["publish", "--out", str(out), "--db", site.settings.db, "--base-url", "http://s.test"]
    assert main(args) == 0
    first = capsys.readouterr().out
    assert first.startswith("snapshot: ") and "3 bundles; 0 failures" in first
    assert main([*args, "--incremental"]) == 0
    assert capsys.readouterr().out.startswith("refresh: 0 answers rendered")
    site.record("print('b')\n", 2000.0)
    assert main([*args, "--incremental"]) == 0
    again = capsys.readouterr().out
    assert again.startswith("refresh: ") and "6 runs, 2 records, 2 attempts" in again


def test_bad_arguments_are_named(tmp_path, capsys):
    site = small_site(tmp_path)
    a_file = tmp_path / "a-file"
    a_file.write_text("x")
    cases = [
        (["--out", str(a_file), "--db", site.settings.db], f"--out {a_file}: not a folder"),
        (["--out", str(tmp_path / "s"), "--db", str(tmp_path / "nope.db")], "no such database"),
        (["--out", str(tmp_path / "s"), "--db", site.settings.db, "--base-url", "s.test"], "http"),
        (["--out", str(tmp_path / "no" / "s"), "--db", site.settings.db], "does not exist"),
    ]
    for extra, why in cases:
        assert main(["publish", *extra]) == 2, extra
        err = capsys.readouterr().err
        assert err.startswith("speedrun publish: error: ") and why in err, err
    assert not (tmp_path / "s").exists() and not (tmp_path / "nope.db").exists()
    assert a_file.read_text() == "x"
