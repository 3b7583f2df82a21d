"""docs/checks.md, docs/fixes.md, the schema's id lists and the registry name the same ids."""

from __future__ import annotations

import json
import re
from pathlib import Path

from gpudoctor import registry

ROOT = Path(__file__).resolve().parent.parent
ROW = re.compile(r"^\| `([a-z0-9_]+(?:\.[a-z0-9_\-]+)+)` \|", re.M)


def _schema() -> dict:
    return json.loads((ROOT / "gpudoctor/schema/report.schema.json").read_text())


def test_every_check_is_documented_and_listed_and_nothing_else() -> None:
    reg = registry.load(third_party=False)
    ids = {c.id for c in reg.ordered_checks(include_opt_in=True)}
    documented = set(ROW.findall((ROOT / "docs/checks.md").read_text()))
    assert documented == ids
    assert set(_schema()["x-check-ids"]) == ids


def test_every_fix_is_documented_and_listed_and_nothing_else() -> None:
    reg = registry.load(third_party=False)
    ids = set(reg.fixes)
    documented = set(ROW.findall((ROOT / "docs/fixes.md").read_text()))
    assert documented == ids
    assert set(_schema()["x-fix-ids"]) == ids

