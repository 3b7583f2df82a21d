"""Variants of the scenario host roots for check tests: build, change, report."""

from __future__ import annotations

import json
from pathlib import Path

from tests.support.cli import report_for


def variant(root: Path, name: str, change=None, after=None) -> dict:
    """Build scenario `name`, apply `change(builder)` before finish and `after(root)` after;
    its `--json` report."""
    from tests.support.hw_checks import build

    return report_for(build(root, name, change, after))


def edit_host_json(root: Path, edit) -> None:
    path = root / ".gpudoctor/host.json"
    doc = json.loads(path.read_text())
    edit(doc)
    path.write_text(json.dumps(doc))


def text(check: dict) -> str:
    return "\n".join([check["summary"], check["details"], check.get("remedy", ""),
                      *check.get("evidence", [])])
