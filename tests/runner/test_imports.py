"""`import runner` works without torch, and the runner never imports the server."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

RUNNER = Path(__file__).resolve().parents[2] / "runner"
MODULES = sorted(
    ".".join(p.relative_to(RUNNER.parent).with_suffix("").parts).removesuffix(".__init__")
    for p in RUNNER.rglob("*.py")
)


def test_every_runner_module_imports_without_torch() -> None:
    code = (
        "import sys\n"
        "class NoTorch:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name == 'torch' or name.startswith('torch.'):\n"
        "            raise ImportError('torch is blocked in this test')\n"
        "sys.meta_path.insert(0, NoTorch())\n"
        f"for name in {MODULES!r}:\n"
        "    __import__(name)\n"
        "assert 'torch' not in sys.modules\n"
        "from speedrun.cli import build_parser\n"
        "build_parser().parse_args(['run', 'x.py', '--track', 'cpu-smoke'])\n"
        "assert 'torch' not in sys.modules\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert "runner.evaluate" in MODULES and "runner.backends.docker" in MODULES


def test_the_runner_never_imports_the_server() -> None:
    for path in RUNNER.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                names = [node.module or ""]
            assert not any(n == "server" or n.startswith("server.") for n in names), path
