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


def _blocking_calls_in_async_defs(source: str) -> list[str]:
    """Calls an `async def` makes itself (not in a nested def or lambda run in a thread) that reach the
    database: a method of `session`, or a sync helper of the same module given the session."""
    tree = ast.parse(source)
    sync_helpers = {n.name for n in tree.body if isinstance(n, ast.FunctionDef)}
    found: list[str] = []

    def visit(node: ast.AST, where: str) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
                continue
            if isinstance(child, ast.Call):
                name = ast.unparse(child.func)
                gets_session = any(isinstance(a, ast.Name) and a.id == "session" for a in child.args)
                if name.startswith("session.") or (name in sync_helpers and gets_session):
                    found.append(f"{where}: {ast.unparse(child)[:80]}")
            visit(child, where)

    for node in tree.body:
        if isinstance(node, ast.AsyncFunctionDef):
            visit(node, node.name)
    return found


def test_async_routes_make_no_blocking_database_calls_on_the_event_loop():
    # An async route does its database work in run_in_threadpool / Actions.read (or is a plain `def`).
    # get_session closes a session that holds no connection on the loop (no I/O; see its comment).
    # current_user's cache hit merges a cached row with load=False (the identity map only, no SQL) and ends
    # the connection-less transaction merge() began (nothing is sent).
    allowed = {"api/deps.py": ["get_session: session.in_transaction()", "get_session: session.close()",
                               "current_user: session.merge(cached, load=False)", "current_user: session.commit()"]}
    offending = {str(p.relative_to(ROOT)): calls for p in sorted((ROOT / "api").rglob("*.py"))
                 if (calls := _blocking_calls_in_async_defs(p.read_text()))}
    assert offending == allowed


def test_the_rule_sees_a_blocking_call_in_an_async_route():
    source = ("def _visible(session, i):\n    return session.get(X, i)\n"
              "async def route(session):\n    row = session.get(X, 1)\n    _visible(session, 2)\n"
              "    await run_in_threadpool(_visible, session, 3)\n")
    assert len(_blocking_calls_in_async_defs(source)) == 2
