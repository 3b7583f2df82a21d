"""What a check module may import at load time.

A check is loaded on every run, also on hosts where it is skipped, so at module level it
imports only the plugin contract (facts modules are imported inside the method that uses them:
an AMD host never loads the NVIDIA, containerd or CRI-O facts). And no check imports another
check: what two checks share is a fact, so one broken plugin module cannot take others down.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

CHECKS = sorted(p for p in (Path(__file__).resolve().parents[2] / "checks").glob("*.py")
                if not p.name.startswith("_"))
#: the plugin contract, and the package itself for TYPE_CHECKING (gpudoctor/__init__.py)
ALLOWED_AT_LOAD = {"gpudoctor.plugin", "gpudoctor"}


def _imports(tree: ast.AST) -> list[tuple[str, bool]]:
    """(module, at load time) for every import; TYPE_CHECKING blocks and function bodies are
    not at load time."""
    found: list[tuple[str, bool]] = []

    def visit(node: ast.AST, at_load: bool) -> None:
        for child in ast.iter_child_nodes(node):
            deferred = isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)) \
                or (isinstance(child, ast.If) and "TYPE_CHECKING" in ast.unparse(child.test))
            inner = at_load and not deferred
            if isinstance(child, ast.ImportFrom) and child.module:
                found.append((child.module, at_load))
            elif isinstance(child, ast.Import):
                found.extend((alias.name, at_load) for alias in child.names)
            visit(child, inner)

    visit(tree, True)
    return found


@pytest.mark.parametrize("path", CHECKS, ids=[p.stem for p in CHECKS])
def test_a_check_loads_only_the_plugin_contract_and_never_another_check(path: Path) -> None:
    imports = _imports(ast.parse(path.read_text(encoding="utf-8")))
    heavy = [m for m, at_load in imports
             if at_load and m.startswith("gpudoctor") and m not in ALLOWED_AT_LOAD]
    assert not heavy, f"{path.name} imports at load time: {heavy}"
    other_checks = [m for m, _ in imports if m.startswith(("gpudoctor.checks", "checks"))]
    assert not other_checks, f"{path.name} imports another check: {other_checks}"
