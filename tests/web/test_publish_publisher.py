"""The server keeps the snapshot current (SPEEDRUN_PUBLISH_DIR): started with the app, it
builds the snapshot, then rebuilds what each write touches within a few intervals, whoever
wrote; a folder it may not use stops the server from starting, with the reason."""

from __future__ import annotations

import time

import pytest
from fastapi.testclient import TestClient
from publish_helpers import small_site

from server.app import create_app
from server.config import load_settings
from web.publish import folder

pytestmark = pytest.mark.slow  # a site, its records and whole builds: seconds


def _wait_for(path, timeout_s: float = 30.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not path.exists():
        assert time.monotonic() < deadline, f"{path} never appeared"
        time.sleep(0.05)


def test_the_server_publishes_every_change(tmp_path):
    out = tmp_path / "snapshot"
    site = small_site(tmp_path, publish_dir=str(out), publish_interval_s=0.1)
    with TestClient(site.app):  # the lifespan starts the publisher
        _wait_for(out / "index.html")
        record = site.record("print('a')\n", 3000.0)
        _wait_for(out / "records" / str(record) / "index.html")
        _wait_for(out / "api" / "v1" / "records" / str(record) / "index.json")
        board = out / "tracks" / "cpu-tiny" / "index@version=2.html"
        deadline = time.monotonic() + 30
        while f'data-record="{record}"' not in board.read_text():
            assert time.monotonic() < deadline, "the board never showed the record"
            time.sleep(0.05)
    saved = folder.load_state(out)
    assert saved is not None and record in saved.state.records


def test_a_folder_the_publisher_may_not_use_stops_the_server(tmp_path):
    taken = tmp_path / "taken"
    taken.mkdir()
    (taken / "notes.txt").write_text("someone else's")
    settings = load_settings(db=f"sqlite:///{tmp_path / 'x.db'}", publish_dir=str(taken))
    with pytest.raises(folder.PublishError, match="SPEEDRUN_PUBLISH_DIR"):
        create_app(settings)
