"""`speedrun submit VARIANT --name N`: the name reaches the server (a real one, the app on
SQLite served on loopback) trimmed, and a bad name is one usage error before anything is
sent."""

from __future__ import annotations

import argparse
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from support.bundles import TRACK
from support.serving import live_server

from runner import agent_cli
from server.app import create_app
from server.config import load_settings
from server.services.tokens import create_token
from speedrun.errors import UsageError


def parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    agent_cli.register(parser.add_subparsers(dest="command"))
    return parser.parse_args(list(argv))


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str]]:
    path = tmp_path_factory.mktemp("names") / "speedrun.db"
    app = create_app(load_settings(db=f"sqlite:///{path}"))
    with app.state.speedrun.db.write() as session:
        token = create_token(session, "alice")[1]
    with live_server(app) as port:
        yield f"http://127.0.0.1:{port}", token
    app.state.speedrun.db.dispose()


def test_the_name_is_sent(server, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    url, token = server
    variant = tmp_path / "train_gpt.py"
    variant.write_text("from speedrun import harness\nprint('named')\n")
    argv = ["submit", str(variant), "--server", url, "--track", TRACK, "--token", token]
    assert agent_cli.run_submit_command(parse(*argv, "--name", "  Muon improvements ")) == 0
    sid = int(capsys.readouterr().out.split()[1].rstrip(":"))
    sub = httpx.get(f"{url}/api/v1/submissions/{sid}").json()
    assert sub["name"] == "Muon improvements" and sub["job"]["name"] == "Muon improvements"


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("x" * 121, "--name: name is 121 characters; at most 120"),
        ("two\nlines", r"--name: name holds a control character \(U\+000A\)"),
        ("rtl\u202eoverride", "--name: name holds a format character"),
    ],
)
def test_a_bad_name_is_a_usage_error_before_anything_is_sent(
    tmp_path: Path, name: str, message: str
) -> None:
    variant = tmp_path / "v.py"
    variant.write_text("print(1)\n")
    argv = ["submit", str(variant), "--server", "http://127.0.0.1:9", "--track", TRACK]
    with pytest.raises(UsageError, match=message):
        agent_cli.run_submit_command(parse(*argv, "--token", "t", "--name", name))
