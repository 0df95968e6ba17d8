"""
The package's import rules, checked on the source: ``utils`` is a leaf (nothing from ``operators``
or ``triggers``), no module imports the DAG-building ``operators.pipeline_stages`` back, and only
``hooks`` speak HTTP.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "tandem_airflow"
MODULES = sorted(PACKAGE.rglob("*.py"))


def imported(path: Path) -> set[str]:
    """Every module a file imports, at top level or inside a function."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def relative(path: Path) -> str:
    return str(path.relative_to(PACKAGE))


@pytest.mark.parametrize("path", [p for p in MODULES if relative(p).startswith("utils/")], ids=relative)
def test_utils_is_a_leaf(path):
    assert not {n for n in imported(path) if n.startswith(("tandem_airflow.operators", "tandem_airflow.triggers"))}


def test_nothing_in_the_package_imports_the_dag_factories():
    importers = [relative(p) for p in MODULES if any(n.startswith("tandem_airflow.operators.pipeline_stages") for n in imported(p))]
    assert importers == []


def test_only_hooks_speak_http():
    speakers = [relative(p) for p in MODULES if {"httpx", "requests", "urllib.request"} & {n.split(".")[0] if n.startswith(("httpx", "requests")) else n for n in imported(p)}]
    assert speakers and all(s.startswith("hooks/") for s in speakers), speakers


@pytest.mark.parametrize(
    "module",
    [
        "tandem_airflow.operators.handoff",
        "tandem_airflow.triggers.handoff",
        "tandem_airflow.operators.pipeline_stages",
        "tandem_airflow.utils.fingerprints",
        "tandem_airflow.utils.partition",
    ],
)
def test_each_module_imports_first_in_a_fresh_interpreter(module):
    """An import cycle shows up as an ImportError depending on which module comes first."""
    import subprocess
    import sys

    result = subprocess.run([sys.executable, "-c", f"import {module}"], capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 0, result.stderr[-2000:]
