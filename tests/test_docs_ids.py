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



#: Backticked names in the docs that look like ids but name something else.
NOT_IDS = {"docker.io"}  # the Debian/Ubuntu package
DOTTED = re.compile(r"`([a-z0-9_]+(?:\.[a-z0-9_]+)+)`")


def _known_ids(reg: registry.Registry) -> tuple[set[str], set[str]]:
    """Every check, fix and finding id, and the namespaces (first parts) they use."""
    checks = reg.ordered_checks(include_opt_in=True)
    ids = {c.id for c in checks} | set(reg.fixes)
    ids |= {f for c in checks if c.sentences for f in c.sentences.finding_ids()}
    return ids, {i.split(".")[0] for i in ids}


def test_every_id_named_in_the_docs_exists() -> None:
    """An id in any page of docs/ or the README that names no check, fix or finding is a
    stale or mistyped reference: a person would look for it in the report and not find it."""
    reg = registry.load(third_party=False)
    ids, namespaces = _known_ids(reg)
    pages = [*sorted((ROOT / "docs").rglob("*.md")), ROOT / "README.md"]
    stale = {f"{page.relative_to(ROOT)}: {name}"
             for page in pages for name in DOTTED.findall(page.read_text(encoding="utf-8"))
             if name.split(".")[0] in namespaces and name not in ids and name not in NOT_IDS}
    assert not stale, sorted(stale)


def test_every_builtin_check_says_its_words_from_a_table() -> None:
    reg = registry.load(third_party=False)
    missing = [c.id for c in reg.ordered_checks(include_opt_in=True)
               if reg.sources.get(c.id) == registry.BUILTIN and c.sentences is None]
    assert not missing, missing
    for check in reg.ordered_checks(include_opt_in=True):
        assert check.sentences is not None and check.sentences.check_id == check.id
        offered = {f for say in check.sentences.rows.values() for f in say.fixes}
        assert offered <= set(reg.fixes), (check.id, offered - set(reg.fixes))


def test_the_findings_page_lists_every_finding_of_every_table() -> None:
    """docs/findings.md is generated from the tables; stale means someone changed a table."""
    import subprocess
    import sys

    proc = subprocess.run([sys.executable, str(ROOT / "scripts/findings_doc.py"), "--check"],
                          capture_output=True, text=True, timeout=60, check=False)
    assert proc.returncode == 0, proc.stderr
    reg = registry.load(third_party=False)
    page = (ROOT / "docs/findings.md").read_text(encoding="utf-8")
    for check in reg.ordered_checks(include_opt_in=True):
        for finding in check.sentences.finding_ids() if check.sentences else ():
            assert f"`{finding}`" in page, finding
