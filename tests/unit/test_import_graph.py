"""The package's import graph: no cycle, faces import the service and never each other, ci/ knows no face."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "handler" / "jobwatch"
FACES = {"jobwatch.entry", "jobwatch.api", "jobwatch.httpmessage", "jobwatch.callbacks", "jobwatch.ui"}


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports(path: Path) -> set[str]:
    """Every jobwatch module ``path`` imports, at its top or inside a function (lazy imports count)."""
    name = module_name(path)
    package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.startswith("jobwatch")}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base]) if base else ".".join(anchor)
            if not base.startswith("jobwatch"):
                continue
            for alias in node.names:  # "from . import api" names a module; "from .x import y" names x
                candidate = f"{base}.{alias.name}"
                found.add(candidate if (PACKAGE.parent / (candidate.replace(".", "/") + ".py")).exists() else base)
    return found - {name}


def graph() -> dict[str, set[str]]:
    return {module_name(p): imports(p) for p in PACKAGE.rglob("*.py")}


def test_no_cycle() -> None:
    """No module imports itself through others (TYPE_CHECKING and lazy imports included)."""
    edges = graph()
    state: dict[str, int] = {}

    def visit(node: str, trail: list[str]) -> None:
        state[node] = 1
        for nxt in sorted(edges.get(node, ())):
            if nxt not in edges:
                continue
            assert state.get(nxt) != 1, " -> ".join([*trail, node, nxt])
            if nxt not in state:
                visit(nxt, [*trail, node])
        state[node] = 2

    for node in sorted(edges):
        if node not in state:
            visit(node, [])


def test_ci_knows_no_face() -> None:
    """ci/ imports neither a face nor the service."""
    for name, targets in graph().items():
        if name.startswith("jobwatch.ci"):
            assert not targets & (FACES | {"jobwatch.service"}), (name, targets)


def test_api_does_not_import_entry() -> None:
    """Importing the HTTP face does not pull in the direct-invoke dispatcher (a fresh interpreter says so)."""
    code = "import sys, jobwatch.api; print('jobwatch.entry' in sys.modules)"
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60,
                         env={"PYTHONPATH": str(PACKAGE.parent), "PATH": "/usr/bin:/bin"})  # fmt: skip
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip() == "False"
