"""The dependency rule of the layers: workflow code (run in the sandbox, replayed for years) imports
only the standard library, temporalio and the pure domain; activities reach the database through
store/ and never import workflow code."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

ROOT = Path(__file__).parent.parent


def _imports(path: Path) -> set[str]:
    """Top-level module names a file imports at run time (imports under TYPE_CHECKING do not run)."""
    found: set[str] = set()

    def visit(node: ast.AST) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and "TYPE_CHECKING" in ast.unparse(child.test):
                continue
            if isinstance(child, ast.Import):
                found.update(a.name.split(".")[0] for a in child.names)
            elif isinstance(child, ast.ImportFrom) and child.level == 0 and child.module:
                found.add(child.module.split(".")[0])
            visit(child)

    visit(ast.parse(path.read_text()))
    return found


def test_workflows_import_only_the_domain_temporalio_and_the_standard_library():
    allowed = {"domain", "workflows", "temporalio", "__future__", *sys.stdlib_module_names}
    offending = {f"{p.relative_to(ROOT)}: {sorted(_imports(p) - allowed)}"
                 for p in sorted((ROOT / "workflows").glob("*.py")) if _imports(p) - allowed}
    assert offending == set()


def test_activities_do_not_import_workflow_code():
    offending = [str(p.relative_to(ROOT)) for p in sorted((ROOT / "activities").glob("*.py"))
                 if {"workflows", "api"} & _imports(p)]
    assert offending == []


def test_the_rule_sees_a_forbidden_import(tmp_path):
    bad = tmp_path / "bad.py"
    bad.write_text("from sqlalchemy import select\nif TYPE_CHECKING:\n    import pydantic\n")
    assert _imports(bad) == {"sqlalchemy"}
