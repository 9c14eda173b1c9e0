"""runner.agent_cli: `speedrun submit` against a real server (the app on SQLite, served by
uvicorn on loopback). Bundles are uploaded and reported stored, known or refused (exit 1 if
any is refused); a variant is submitted as a record attempt with its page printed, and
`--wait` follows it; bad arguments are one clear usage error before anything is sent."""

from __future__ import annotations

import argparse
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from support.bundles import TRACK, make_bundle
from support.serving import live_server

from runner import agent_cli
from runner.answers import parse_attempt
from server.app import create_app
from server.config import load_settings
from server.db import Database, migrate
from server.services.runners import add_runner
from server.services.tokens import create_token
from speedrun.errors import UsageError


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    path = tmp_path_factory.mktemp("server") / "speedrun.db"
    migrate(Database(f"sqlite:///{path}"))
    app = create_app(load_settings(db=f"sqlite:///{path}", extra_record_backends=[]))
    db = app.state.speedrun.db
    key = Ed25519PrivateKey.generate()
    with db.write() as session:
        add_runner(session, "ci-runner", key.public_key())
        token = create_token(session, "alice")[1]
    with live_server(app) as port:
        yield {"url": f"http://127.0.0.1:{port}", "key": key, "token": token}
    db.dispose()


def parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    agent_cli.register(parser.add_subparsers(dest="command"))
    return parser.parse_args(list(argv))


def bundle_file(tmp_path: Path, name: str, key: Ed25519PrivateKey, **fields: Any) -> Path:
    path = tmp_path / name
    path.write_bytes(make_bundle(key, backend="local", **fields))
    return path


def test_bundles_are_uploaded_and_a_second_upload_is_known(
    server: dict[str, Any], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = bundle_file(tmp_path, "a.bundle.tar.gz", server["key"], time_ms=1234.0)
    assert agent_cli.run_submit_command(parse("submit", str(path), "--server", server["url"])) == 0
    assert agent_cli.run_submit_command(parse("submit", str(path), "--server", server["url"])) == 0
    stored, known = capsys.readouterr().out.splitlines()
    assert stored.startswith(f"stored   {path} -> run ")
    assert known.startswith(f"known    {path} -> run ") and stored.split()[-1] == known.split()[-1]


def test_a_refused_bundle_is_named_and_the_others_still_go(
    server: dict[str, Any], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    stranger = bundle_file(tmp_path, "x.bundle.tar.gz", Ed25519PrivateKey.generate())
    good = bundle_file(tmp_path, "b.bundle.tar.gz", server["key"], time_ms=999.0)
    args = parse("submit", str(stranger), str(good), "--server", server["url"])
    assert agent_cli.run_submit_command(args) == 1
    out, err = capsys.readouterr()
    assert err.startswith(f"refused  {stranger}: ") and "key" in err
    assert out.startswith(f"stored   {good} -> run ")


def test_a_variant_is_submitted_and_followed(
    server: dict[str, Any],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    variant = tmp_path / "train_gpt.py"
    variant.write_text("from speedrun import harness\nprint('faster')\n")
    monkeypatch.setenv(agent_cli.TOKEN_ENV, server["token"])
    argv = ["submit", str(variant), "--server", server["url"], "--track", TRACK]
    assert agent_cli.run_submit_command(parse(*argv, "--description", "faster")) == 0
    first, json_line = capsys.readouterr().out.splitlines()
    sid = int(first.split()[1].rstrip(":"))
    assert first == f"submission {sid}: {server['url']}/submissions/{sid}"
    assert json_line == f"  json: {server['url']}/api/v1/submissions/{sid}"
    # no agent serves the queue here: --wait reports the pending job and gives up on time
    assert agent_cli.run_submit_command(parse(*argv, "--wait", "--timeout", "0")) == 1
    out, err = capsys.readouterr()
    assert re.fullmatch(r"  job \d+: PENDING, 0/\d+ runs", out.splitlines()[-1])
    assert "still running; stopped waiting" in err


def test_a_refused_submission_exits_1_with_the_servers_reason(
    server: dict[str, Any], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    variant = tmp_path / "train_gpt.py"
    variant.write_text("print('x')\n")
    args = parse(
        "submit",
        str(variant),
        "--server",
        server["url"],
        "--track",
        TRACK,
        "--token",
        "not-a-token",
    )
    assert agent_cli.run_submit_command(args) == 1
    assert capsys.readouterr().err.startswith("speedrun submit: refused: ")


@pytest.mark.parametrize(
    ("files", "extra", "message"),
    [
        (["missing.py"], ["--track", TRACK, "--token", "t"], "no such file"),
        (["v.py", "b.bundle.tar.gz"], [], "either bundle files, or exactly one variant"),
        (["v.py", "w.py"], [], "either bundle files, or exactly one variant"),
        (["v.py"], ["--token", "t"], "needs --track"),
        (["v.py"], ["--track", TRACK], "needs --token"),
        (["latin1.py"], ["--track", TRACK, "--token", "t"], "not UTF-8 text"),
    ],
)
def test_bad_arguments_are_usage_errors_before_anything_is_sent(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    files: list[str],
    extra: list[str],
    message: str,
) -> None:
    monkeypatch.delenv(agent_cli.TOKEN_ENV, raising=False)
    (tmp_path / "v.py").write_text("print(1)\n")
    (tmp_path / "w.py").write_text("print(2)\n")
    (tmp_path / "latin1.py").write_bytes(b"print('caf\xe9')\n")
    (tmp_path / "b.bundle.tar.gz").write_bytes(b"\x1f\x8b\x08")
    argv = ["submit", *(str(tmp_path / f) for f in files), "--server", "http://127.0.0.1:9"]
    with pytest.raises(UsageError, match=message):
        agent_cli.run_submit_command(parse(*argv, *extra))


def test_the_agent_refuses_a_job_limit_below_one() -> None:
    with pytest.raises(UsageError, match="--max-jobs must be at least 1"):
        agent_cli.run_agent_command(
            parse("agent", "--server", "http://127.0.0.1:9", "--max-jobs", "0")
        )


def test_an_attempt_is_described_in_one_line() -> None:
    stats = {
        "n_runs": 3,
        "n_counted": 3,
        "time_ms": {"n": 3, "mean": 1000.4, "std": 2.0},
        "val_loss": {"n": 3, "mean": 3.2712, "std": 0.0012},
        "p_value": 0.0004,
        "qualifies": True,
        "reason": "",
    }
    record = parse_attempt(
        {"id": 5, "track": {"id": TRACK, "version": 2}, "record_id": 9, "stats": stats}
    )
    assert agent_cli.describe_attempt(record) == (
        "record 9 (3/3 runs counted, time_ms 1000ms ± 2, val_loss 3.271 ± 0.0012, p=0.0004)"
    )
    stats |= {"val_loss": None, "p_value": None, "n_counted": 1, "reason": "too few runs"}
    plain = parse_attempt(
        {"id": 5, "track": {"id": TRACK, "version": 2}, "record_id": None, "stats": stats}
    )
    assert agent_cli.describe_attempt(plain) == (
        "not a record (1/3 runs counted, time_ms 1000ms ± 2): too few runs"
    )
