"""`speedrun admin token-revoke USER|TOKEN_ID`: revokes one token by id, or every token of a
user; a revoked token is refused 401 on every route that takes one; the command names what
it revoked, and a bad argument gets one line on stderr, exit 1 and nothing changed. Through
the CLI in-process and as a real `speedrun admin` process; SQLite and PostgreSQL."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest
from sqlalchemy import select

from server.models import ApiToken
from speedrun.cli import main as cli

BODY = {"track": "cpu-tiny", "source": "print('revoked?')\n"}


def create(settings, user, capsys) -> tuple[str, int]:
    """A new token of `user` made by the CLI: (token, its id from the stderr line)."""
    assert cli(["admin", "token-create", user, "--db", settings.db]) == 0
    out, err = capsys.readouterr()
    match = re.fullmatch(rf"token (\d+) of {user} \(revoke: token-revoke \1\)\n", err)
    assert match, err
    return out.strip(), int(match.group(1))


def submits(client, token: str) -> int:
    headers = {"Authorization": f"Bearer {token}"}
    return client.post("/api/v1/submissions", json=BODY, headers=headers).status_code


def revoked(db) -> dict[int, bool]:
    with db.reader() as session:
        return {
            i: r is not None for i, r in session.execute(select(ApiToken.id, ApiToken.revoked_at))
        }


def bearer_routes(app) -> list[tuple[str, str]]:
    """Every (method, path) whose OpenAPI operation asks for the bearer token."""
    spec = app.openapi()
    return [
        (method.upper(), path)
        for path, ops in spec["paths"].items()
        for method, op in ops.items()
        if any("HTTPBearer" in s for s in op.get("security", []))
    ]


def test_revoke_one_token_by_id_then_all_of_a_user(client, app, db, settings, capsys):
    carol1, id1 = create(settings, "carol", capsys)
    carol2, id2 = create(settings, "carol", capsys)
    dave, _ = create(settings, "dave", capsys)
    assert cli(["admin", "token-revoke", str(id1), "--db", settings.db]) == 0
    assert capsys.readouterr().out == f"revoked 1 token of carol: {id1}\n"
    routes = bearer_routes(app)
    assert routes == [("POST", "/api/v1/submissions")]
    for method, path in routes:
        answer = client.request(
            method, path, json=BODY, headers={"Authorization": f"Bearer {carol1}"}
        )
        assert answer.status_code == 401 and answer.json()["code"] == "bad-token"
    assert submits(client, carol2) == 201
    create(settings, "carol", capsys)
    assert cli(["admin", "token-revoke", "carol", "--db", settings.db]) == 0
    out = capsys.readouterr().out
    assert re.fullmatch(rf"revoked 2 tokens of carol: {id2}, \d+\n", out), out
    assert submits(client, carol2) == 401 and submits(client, dave) == 201


@pytest.mark.parametrize(
    ("argument", "message"),
    [
        ("nobody", "no user named 'nobody'"),
        ("999999", "no token with id 999999"),
        ("99999999999999999999", "no token with id 99999999999999999999"),
        ("ALREADY", "is already revoked"),
        ("erin", "user erin has no token left to revoke"),
    ],
)
def test_a_bad_argument_is_one_line_and_changes_nothing(db, settings, capsys, argument, message):
    _, token_id = create(settings, "erin", capsys)
    assert cli(["admin", "token-revoke", "erin", "--db", settings.db]) == 0
    capsys.readouterr()
    before = revoked(db)
    argument = str(token_id) if argument == "ALREADY" else argument
    assert cli(["admin", "token-revoke", argument, "--db", settings.db]) == 1
    out, err = capsys.readouterr()
    assert out == "" and err.count("\n") == 1 and message in err, err
    assert revoked(db) == before


def test_a_user_named_by_digits_is_revoked_with_user(db, settings, capsys):
    _, token_id = create(settings, "4242", capsys)
    assert cli(["admin", "token-revoke", "4242", "--db", settings.db]) == 1
    assert "add --user" in capsys.readouterr().err
    assert cli(["admin", "token-revoke", "4242", "--user", "--db", settings.db]) == 0
    assert capsys.readouterr().out == f"revoked 1 token of 4242: {token_id}\n"


def test_the_real_command(db, settings):
    def admin(*args: str) -> subprocess.CompletedProcess[str]:
        command = [sys.executable, "-m", "speedrun.cli", "admin", *args, "--db", settings.db]
        return subprocess.run(command, capture_output=True, text=True, timeout=120)

    made = admin("token-create", "frank")
    assert made.returncode == 0, made.stderr
    token_id = re.search(r"token (\d+) of frank", made.stderr).group(1)
    done = admin("token-revoke", token_id)
    assert done.returncode == 0 and done.stdout == f"revoked 1 token of frank: {token_id}\n"
    again = admin("token-revoke", token_id)
    assert again.returncode == 1 and again.stdout == ""
    assert again.stderr == f"speedrun admin: error: token {token_id} of frank is already revoked\n"
