"""The code's shape holds (issue: folders that show the system): every library module under
400 lines, every function under 50 (training loops of reference recipes aside), no import
cycle even counting imports inside functions, each reference recipe under 550 lines, and
every library module with a test file named after it (`pkg/mod.py` in `tests/pkg/test_mod.py`,
`pkg/sub/mod.py` in `tests/pkg/test_sub_mod.py`). The figures come from
`benchmarks/architecture.py`, which reads the sources with `ast`; the layering itself is
import-linter's contract, run by `make lint`."""

from __future__ import annotations

import importlib.util
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


def test_every_library_module_has_its_own_test_file(shape: dict[str, Any]) -> None:
    tests = shape["test_files"]
    assert tests["modules_needing_one"] > 100
    assert tests["missing"] == {}, "modules without their test file:\n" + "\n".join(
        f"  {module}: {path}" for module, path in tests["missing"].items()
    )
    assert tests["names_shared"] == {}  # the rule names one file per module


def _rule() -> Any:
    path = REPO / "benchmarks" / "architecture.py"
    spec = importlib.util.spec_from_file_location("architecture", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.expected_test_file


@pytest.mark.parametrize(
    ("module", "test_file"),
    [
        ("speedrun/bundle.py", "tests/speedrun/test_bundle.py"),
        ("server/services/cache.py", "tests/server/test_services_cache.py"),
        ("server/services/history/plan.py", "tests/server/test_history_plan.py"),
        ("runner/backends/docker.py", "tests/runner/test_backends_docker.py"),
        ("speedrun/logparse/__init__.py", "tests/speedrun/test_logparse.py"),  # has code
        ("speedrun/harness/__init__.py", None),  # re-exports only
        ("server/models/__init__.py", None),
        ("speedrun/schemas/__init__.py", None),  # a data package
        ("server/migrations/versions/0001_initial.py", None),
    ],
)
def test_the_naming_rule(module: str, test_file: str | None) -> None:
    found = _rule()(REPO / module)
    assert (None if found is None else str(found)) == test_file
