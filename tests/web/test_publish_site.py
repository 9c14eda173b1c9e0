"""The site a snapshot renders from: a database checked before anything runs (missing,
unreadable, or not this service's: refused with the reason, nothing created), the site's
address, and a signature that moves with the settings pages show."""

from __future__ import annotations

import sqlite3

import pytest

from server.config import load_settings
from server.db import Database, migrate
from web.publish import site


def test_databases_that_are_not_the_services_are_refused(tmp_path):
    missing = tmp_path / "typo.db"
    with pytest.raises(site.PublishError, match="no such database file"):
        site.check_database(load_settings(db=str(missing)))
    assert not missing.exists()  # not created by looking
    other = tmp_path / "other.db"
    sqlite3.connect(other).execute("CREATE TABLE notes (x)").connection.commit()
    with pytest.raises(site.PublishError, match="not a speedrun database"):
        site.check_database(load_settings(db=str(other)))
    garbage = tmp_path / "garbage.db"
    garbage.write_bytes(b"this is not SQLite" * 100)
    with pytest.raises(site.PublishError, match="cannot open it"):
        site.check_database(load_settings(db=str(garbage)))
    with pytest.raises(site.PublishError, match="cannot open it"):
        site.check_database(load_settings(db="postgresql://nobody@127.0.0.1:9/none"))


def test_a_migrated_database_passes(tmp_path):
    url = f"sqlite:///{tmp_path / 'ok.db'}"
    db = Database(url)
    migrate(db)
    db.dispose()
    site.check_database(load_settings(db=url))


def test_base_url_and_signature():
    settings = load_settings(db="sqlite:///x.db", host="0.0.0.0", port=9000)
    assert site.base_url(settings) == "http://0.0.0.0:9000/"
    assert site.base_url(settings, "https://speedrun.example") == "https://speedrun.example/"
    with pytest.raises(site.PublishError, match="http"):
        site.base_url(settings, "ftp://speedrun.example")
    one = site.signature(settings, "https://a.example/")
    assert one == site.signature(settings, "https://a.example/")
    assert one != site.signature(settings, "https://b.example/")
    assert one != site.signature(
        load_settings(db="sqlite:///x.db", notice="hi"), "https://a.example/"
    )
