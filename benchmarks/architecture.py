"""Figures about the code's shape, for before/after comparisons of a restructuring.

    python benchmarks/architecture.py [--json]

Prints, for the library packages (speedrun, runner, server, web):
- modules per folder and lines per module (the longest ones), modules over 400 lines;
- functions over 50 lines (the training loops of reference recipes are reported apart);
- lines of each reference recipe (records/*/train_gpt.py);
- `dict[str, Any]` annotations in the library;
- the longest chain of imports between library modules (module-level imports only), and
  every import cycle;
- which library modules import which package (the layering: speedrun imports neither runner
  nor server nor web; runner never imports server or web; server's services never web).
Everything is read with `ast`; nothing is imported.
"""

from __future__ import annotations

import argparse
import ast
import json
import sys
from collections import defaultdict
from functools import cache
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
PACKAGES = ("speedrun", "runner", "server", "web")
MAX_MODULE_LINES = 400
MAX_FUNCTION_LINES = 50


def modules() -> dict[str, Path]:
    found = {}
    for package in PACKAGES:
        for path in sorted((REPO / package).rglob("*.py")):
            if "migrations" in path.parts:
                continue
            rel = path.relative_to(REPO).with_suffix("")
            name = ".".join(rel.parts).removesuffix(".__init__")
            found[name] = path
    return found


def imports_of(path: Path, name: str, known: set[str], *, nested: bool = False) -> set[str]:
    """Library modules imported at module level (and inside functions too, if `nested`)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    out: set[str] = set()
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    for node in ast.walk(tree) if nested else tree.body:
        targets: list[str] = []
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")
                base = ".".join(parts[: len(parts) - node.level + 1] + ([base] if base else []))
            targets = [base] + [f"{base}.{a.name}" for a in node.names]
        elif isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            continue
        for target in targets:
            while target and target not in known:
                target = target.rpartition(".")[0]
            if target and target != name:
                out.add(target)
    return out


def longest_chain(graph: dict[str, set[str]]) -> list[str]:
    @cache
    def depth(node: str, trail: frozenset[str]) -> tuple[int, tuple[str, ...]]:
        best: tuple[int, tuple[str, ...]] = (1, (node,))
        for nxt in graph.get(node, ()):
            if nxt in trail:
                continue
            d, path = depth(nxt, trail | {nxt})
            if d + 1 > best[0]:
                best = (d + 1, (node, *path))
        return best

    return list(max((depth(n, frozenset({n})) for n in graph), default=(0, ()))[1])


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                found.append(sorted(comp))

    sys.setrecursionlimit(10_000)
    for v in graph:
        if v not in index:
            visit(v)
    return found


def long_functions(path: Path) -> list[tuple[str, int]]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.end_lineno:
            n = node.end_lineno - node.lineno + 1
            if n > MAX_FUNCTION_LINES:
                out.append((node.name, n))
    return out


DATA_PACKAGES = ("speedrun/schemas", "speedrun/trackdefs")  # JSON files, no code


def has_code(path: Path) -> bool:
    """More than a docstring, imports and dunder assignments (`__all__`, `__version__`)."""
    for node in ast.parse(path.read_text(encoding="utf-8")).body:
        if isinstance(node, ast.Import | ast.ImportFrom):
            continue
        if isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant):
            continue
        if isinstance(node, ast.Assign | ast.AnnAssign):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            if all(isinstance(t, ast.Name) and t.id.startswith("__") for t in targets):
                continue
        return True
    return False


def expected_test_file(path: Path) -> Path | None:
    """Where a library module's own tests live, by the suite's naming rule, or None for a
    module that needs none (an `__init__.py` without code, a data package, a migration):
    `pkg/mod.py` -> `tests/pkg/test_mod.py`; `pkg/sub/.../mod.py` -> `tests/pkg/test_sub_mod.py`
    (the last package folder); a package's `__init__.py` is named by its folder, so
    `pkg/sub/__init__.py` -> `tests/pkg/test_sub.py` (and `pkg/__init__.py` -> `test_pkg.py`)."""
    rel = path.relative_to(REPO)
    if "migrations" in rel.parts or any(rel.is_relative_to(d) for d in DATA_PACKAGES):
        return None
    if path.name == "__init__.py" and not has_code(path):
        return None
    package, *folders, name = rel.with_suffix("").parts
    if name == "__init__":  # a package is named as a module of the folder that holds it
        name = folders.pop() if folders else package
    stem = "_".join([*folders[-1:], name])
    return Path("tests") / package / f"test_{stem}.py"


def test_file_report(mods: dict[str, Path]) -> dict[str, Any]:
    """Each library module's test file by the naming rule, and the modules that lack one."""
    expected = {n: t for n, p in mods.items() if (t := expected_test_file(p)) is not None}
    missing = sorted(n for n, t in expected.items() if not (REPO / t).is_file())
    shared: dict[str, list[str]] = defaultdict(list)
    for name, test in expected.items():
        shared[str(test)].append(name)
    return {
        "modules_needing_one": len(expected),
        "missing_count": len(missing),
        "missing": {n: str(expected[n]) for n in missing},
        "names_shared": {t: sorted(ns) for t, ns in sorted(shared.items()) if len(ns) > 1},
    }


def measure() -> dict[str, Any]:
    mods = modules()
    known = set(mods)
    graph = {name: imports_of(path, name, known) for name, path in mods.items()}
    lines = {
        name: len(path.read_text(encoding="utf-8").splitlines()) for name, path in mods.items()
    }
    per_folder: dict[str, int] = defaultdict(int)
    for path in mods.values():
        per_folder[str(path.parent.relative_to(REPO))] += 1
    any_dicts = sum(p.read_text(encoding="utf-8").count("dict[str, Any]") for p in mods.values())
    layering = {
        pkg: sorted({dep.split(".")[0] for m, deps in graph.items() if m.split(".")[0] == pkg
                     for dep in deps} - {pkg})
        for pkg in PACKAGES
    }  # fmt: skip
    recipes = {
        p.parent.name: len(p.read_text(encoding="utf-8").splitlines())
        for p in sorted((REPO / "records").glob("*/train_gpt.py"))
    }
    return {
        "modules": len(mods),
        "modules_per_folder": dict(sorted(per_folder.items())),
        "modules_over_400_lines": {m: n for m, n in sorted(lines.items()) if n > MAX_MODULE_LINES},
        "functions_over_50_lines": {
            name: found for name, path in mods.items() if (found := long_functions(path))
        },
        "recipe_lines": recipes,
        "dict_str_any": any_dicts,
        "longest_import_chain": longest_chain(graph),
        "import_cycles": cycles(graph),
        "import_cycles_with_function_level_imports": cycles(
            {name: imports_of(path, name, known, nested=True) for name, path in mods.items()}
        ),
        "packages_imported_by": layering,
        "test_files": test_file_report(mods),
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--json", action="store_true")
    args = p.parse_args()
    m = measure()
    if args.json:
        print(json.dumps(m, indent=2))
        return
    print(f"library modules: {m['modules']}")
    for folder, n in m["modules_per_folder"].items():
        print(f"  {folder:32s} {n}")
    print(f"modules over {MAX_MODULE_LINES} lines: {len(m['modules_over_400_lines'])}")
    for name, n in m["modules_over_400_lines"].items():
        print(f"  {name:40s} {n}")
    print(
        f"functions over {MAX_FUNCTION_LINES} lines: {sum(map(len, m['functions_over_50_lines'].values()))}"
    )
    for name, found in m["functions_over_50_lines"].items():
        print(f"  {name}: " + ", ".join(f"{f} ({n})" for f, n in found))
    print("reference recipes: " + ", ".join(f"{k} {v} lines" for k, v in m["recipe_lines"].items()))
    print(f"dict[str, Any] in the library: {m['dict_str_any']}")
    chain = m["longest_import_chain"]
    print(f"longest import chain ({len(chain)} modules): " + " -> ".join(chain))
    print(f"import cycles: {m['import_cycles'] or 'none'}")
    nested = m["import_cycles_with_function_level_imports"]
    print(f"  counting imports inside functions: {nested or 'none'}")
    for pkg, deps in m["packages_imported_by"].items():
        print(f"  {pkg} imports: {', '.join(deps) or 'nothing else'}")
    tests = m["test_files"]
    print(
        f"modules without a same-named test file: {tests['missing_count']}"
        f" of {tests['modules_needing_one']}"
    )
    for name, test in tests["missing"].items():
        print(f"  {name:40s} {test}")


if __name__ == "__main__":
    main()
