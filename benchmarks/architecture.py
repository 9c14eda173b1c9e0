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


if __name__ == "__main__":
    main()
