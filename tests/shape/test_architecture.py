"""The code's shape holds (issue: folders that show the system): every library module under
400 lines, every function under 50 (training loops of reference recipes aside), no import
cycle even counting imports inside functions, each reference recipe under 550 lines. The
figures come from `benchmarks/architecture.py`, which reads the sources with `ast`; the
layering itself is import-linter's contract, run by `make lint`."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def shape() -> dict[str, Any]:
    out = subprocess.run(
        [sys.executable, str(REPO / "benchmarks" / "architecture.py"), "--json"],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    figures: dict[str, Any] = json.loads(out.stdout)
    return figures


def test_modules_and_functions_are_small(shape: dict[str, Any]) -> None:
    assert shape["modules"] > 100  # the library was found
    assert shape["modules_over_400_lines"] == {}
    assert shape["functions_over_50_lines"] == {}


def test_no_import_cycles(shape: dict[str, Any]) -> None:
    assert shape["import_cycles"] == []
    assert shape["import_cycles_with_function_level_imports"] == []


def test_layers(shape: dict[str, Any]) -> None:
    imports = shape["packages_imported_by"]
    assert imports["speedrun"] == []
    assert imports["runner"] == ["speedrun"]
    assert "web" not in imports["runner"]


def test_reference_recipes_read_in_one_sitting(shape: dict[str, Any]) -> None:
    assert set(shape["recipe_lines"]) == {"llmc-baseline", "seed-recipe"}
    assert all(lines < 550 for lines in shape["recipe_lines"].values()), shape["recipe_lines"]
