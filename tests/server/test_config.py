"""server.config: settings from `SPEEDRUN_*` variables and overrides, database URLs
normalised, and bad values refused with the setting named."""

from __future__ import annotations

import os

import pytest
from pydantic import ValidationError

from server.config import load_settings, normalize_db_url


def test_environment_values_are_read_and_overrides_win(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SPEEDRUN_PORT", "9001")
    monkeypatch.setenv("SPEEDRUN_RATE_LIMIT_WRITES_PER_S", "0")
    monkeypatch.setenv("SPEEDRUN_EXTRA_RECORD_BACKENDS", '["local"]')
    monkeypatch.setenv("SPEEDRUN_UNRELATED_THING", "ignored")
    settings = load_settings(port=None, max_json_bytes=10)
    assert settings.port == 9001  # None overrides nothing
    assert settings.rate_limit_writes_per_s == 0.0
    assert settings.extra_record_backends == ["local"]
    assert settings.max_json_bytes == 10
    assert load_settings(port=8123).port == 8123


def test_database_urls_are_normalised(monkeypatch: pytest.MonkeyPatch) -> None:
    assert normalize_db_url("postgresql://u@h/db") == "postgresql+psycopg://u@h/db"
    assert normalize_db_url("postgres://u@h/db") == "postgresql+psycopg://u@h/db"
    assert normalize_db_url("sqlite:///x.db") == "sqlite:///x.db"
    assert normalize_db_url("var/x.db") == f"sqlite:///{os.path.abspath('var/x.db')}"
    monkeypatch.setenv("SPEEDRUN_DB", "postgresql://db/speedrun")
    assert load_settings().db == "postgresql+psycopg://db/speedrun"
    monkeypatch.delenv("SPEEDRUN_DB")
    assert load_settings().db == "sqlite:///var/speedrun.db"  # the default, already a URL


@pytest.mark.parametrize(
    ("name", "value", "field"),
    [
        ("SPEEDRUN_PORT", "eighty", "port"),
        ("SPEEDRUN_RATE_LIMIT_BURST", "0", "rate_limit_burst"),
        ("SPEEDRUN_PRICE_PER_ACCEL_HOUR", "-1", "price_per_accel_hour"),
        ("SPEEDRUN_REVERIFY_RUNS", "0", "reverify_runs"),
    ],
)
def test_bad_environment_values_are_refused_naming_the_setting(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str, field: str
) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(ValidationError) as err:
        load_settings()
    assert [e["loc"] for e in err.value.errors()] == [(field,)]
    assert field in str(err.value)


def test_the_site_url_is_the_public_one_when_set() -> None:
    assert load_settings(public_url="https://speedrun.example").site_url(
        "http://evil.example/"
    ) == ("https://speedrun.example/")
    assert load_settings().site_url("http://127.0.0.1:8000/") == "http://127.0.0.1:8000/"
