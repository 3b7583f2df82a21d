"""Write docs/findings.md from the built-in checks' sentence tables.

Finding ids are the stable names fleets alert on and tests assert; the words come from each
check's `Sentences` table (gpudoctor/plugin.py), so the list is generated rather than kept by
hand. tests/test_docs_ids.py fails when the file is out of date:

    .venv/bin/python scripts/findings_doc.py          # rewrite docs/findings.md
    .venv/bin/python scripts/findings_doc.py --check  # exit 1 when it is out of date
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
TARGET = REPO / "docs" / "findings.md"

HEADER = """\
# Findings

What each check can report, by stable finding id (`checks[].findings` in the JSON report,
worst first; `docs/report.md`). Fleets, alert rules and scripts should decide on these ids, not
on the sentences, which may be reworded. Words in braces are filled in from the host (a path, a
version, a list of GPUs). Generated from the checks' sentence tables by
`scripts/findings_doc.py`; do not edit by hand.
"""


def _cell(text: str) -> str:
    return " ".join(text.split()).replace("|", "\\|")


def render() -> str:
    """The whole page, checks in report order, rows in table order."""
    sys.path.insert(0, str(REPO))
    from gpudoctor import registry

    reg = registry.load(third_party=False)
    out = [HEADER.rstrip("\n")]
    for check in reg.ordered_checks(include_opt_in=True):
        table = check.sentences
        if table is None:
            continue
        rows = []
        for key, say in table.rows.items():
            if not say.status.is_problem:
                continue
            name = f"`{table.finding_id(key)}`"
            fixes = ", ".join(f"`{f}`" for f in say.fixes) or "-"
            row = f"| {name} | {say.status.value} | {_cell(say.summary)} | {fixes} |"
            if row not in rows:  # variants of one finding that differ only in details
                rows.append(row)
        if not rows:
            continue
        out.append(f"\n## `{check.id}`: {check.title}\n")
        out.append("| finding | status | summary | fixes |")
        out.append("| --- | --- | --- | --- |")
        out.extend(rows)
    return "\n".join(out) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="exit 1 when the file is stale")
    args = parser.parse_args(argv)
    text = render()
    current = TARGET.read_text(encoding="utf-8") if TARGET.exists() else ""
    if args.check:
        if current != text:
            print(f"{TARGET.relative_to(REPO)} is out of date: run scripts/findings_doc.py",
                  file=sys.stderr)
            return 1
        return 0
    if current != text:
        TARGET.write_text(text, encoding="utf-8")
        print(f"wrote {TARGET.relative_to(REPO)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
