"""Shared fixtures for the history tests (test_history_*): the real modded-nanogpt sample, scanned once."""

from __future__ import annotations

from pathlib import Path

import pytest

from speedrun.history import HistoryScan, scan_checkout

FIXTURES = Path(__file__).resolve().parents[2] / ".." / "shared" / "fixtures" / "modded-nanogpt"


@pytest.fixture(scope="session")
def fixture_root() -> Path:
    if not FIXTURES.is_dir():
        pytest.skip(f"shared modded-nanogpt fixtures not found at {FIXTURES}")
    return FIXTURES


@pytest.fixture(scope="session")
def fixture_scan(fixture_root: Path) -> HistoryScan:
    return scan_checkout(fixture_root)
