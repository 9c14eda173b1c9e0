"""`speedrun admin ...` and `speedrun serve`, driven through the real CLI."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import httpx
from support.bundles import make_bundle
from support.postgres import free_port

from speedrun.cli import main as cli
from speedrun.signing import init_keypair, load_private_key


def test_runner_add_and_revoke(client, settings, tmp_path, capsys):
    pub = init_keypair(tmp_path / "runner.key")
    key = load_private_key(tmp_path / "runner.key")
    assert cli(["admin", "runner-add", "gpu-box", str(pub), "--db", settings.db]) == 0
    assert "registered" in capsys.readouterr().out
    assert client.post("/api/v1/runs", content=make_bundle(key)).status_code == 201
    assert cli(["admin", "runner-add", "gpu-box", str(pub), "--db", settings.db]) == 1
    assert "already registered" in capsys.readouterr().err
    assert client.get("/api/v1/runners").json()["data"][0]["active"] is True
    assert cli(["admin", "runner-revoke", "gpu-box", "--db", settings.db]) == 0
    r = client.post("/api/v1/runs", content=make_bundle(key, seed=1))
    assert r.status_code == 422 and r.json()["code"] == "unknown-key"
    assert (
        cli(["admin", "runner-add", "x", str(tmp_path / "missing.pub"), "--db", settings.db]) == 2
    )


def test_token_create_prints_a_working_token_once(client, settings, capsys):
    assert cli(["admin", "token-create", "carol", "--db", settings.db]) == 0
    token = capsys.readouterr().out.strip()
    body = {"track": "cpu-tiny", "source": "print(1)\n"}
    r = client.post("/api/v1/submissions", json=body, headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 201 and r.json()["user"] == "carol"


def test_serve_applies_migrations_and_answers(tmp_path):
    port = free_port()
    env = {**os.environ, "SPEEDRUN_DB": str(tmp_path / "fresh" / "speedrun.db")}
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "speedrun.cli",
            "serve",
            "--port",
            str(port),
            "--log-level",
            "warning",
        ],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                r = httpx.get(f"http://127.0.0.1:{port}/api/v1/health", timeout=1)
                break
            except httpx.TransportError:
                time.sleep(0.2)
        assert r.json()["status"] == "ok"
        assert httpx.get(f"http://127.0.0.1:{port}/docs").status_code == 200
        page = httpx.get(f"http://127.0.0.1:{port}/")
        assert (page.status_code == 200 and "<table" not in page.text) or "No records" in page.text
        assert (tmp_path / "fresh" / "speedrun.db").exists()
    finally:
        proc.terminate()
        out, _ = proc.communicate(timeout=10)
    assert f"http://127.0.0.1:{port}/" in out


TORCH_BLOCKED = """
import sys
class NoTorch:
    def find_spec(self, name, path=None, target=None):
        if name == "torch" or name.startswith("torch."):
            raise ImportError("torch is blocked in this test")
sys.meta_path.insert(0, NoTorch())
from fastapi.testclient import TestClient
from server.app import create_app
from server.config import load_settings
app = create_app(load_settings(db=sys.argv[1]))
with TestClient(app) as c:
    assert c.get("/api/v1/health").status_code == 200
    assert c.get("/api/v1/tracks/cpu-smoke/leaderboard").status_code == 200
    assert c.post("/api/v1/runs", content=b"junk").status_code == 400
assert "torch" not in sys.modules
print("ok without torch")
"""


def test_server_runs_without_torch(tmp_path):
    db = f"sqlite:///{tmp_path / 'no-torch.db'}"
    proc = subprocess.run(
        [sys.executable, "-c", TORCH_BLOCKED, db], capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0, proc.stderr
    assert "ok without torch" in proc.stdout
