"""Variants of the scenario host roots for check tests: build, change, report."""

from __future__ import annotations

import json
from pathlib import Path

from tests.support import scenarios as sc
from tests.support.cli import report_for
from tests.support.hostroot import HostRootBuilder


def variant(root: Path, name: str, change=None, after=None) -> dict:
    """Build scenario `name`, apply `change(builder)` before finish and `after(root)` after."""
    b = HostRootBuilder(root)
    sc.SCENARIOS[name](b)
    if change is not None:
        change(b)
    built = b.finish()
    if after is not None:
        after(built)
    return report_for(built)


def edit_host_json(root: Path, edit) -> None:
    path = root / ".gpudoctor/host.json"
    doc = json.loads(path.read_text())
    edit(doc)
    path.write_text(json.dumps(doc))


def text(check: dict) -> str:
    return "\n".join([check["summary"], check["details"], check.get("remedy", ""),
                      *check.get("evidence", [])])
