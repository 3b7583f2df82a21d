"""`gpudoctor list`: every check and fix, with its area and where it came from."""

from __future__ import annotations

import argparse
import sys

from gpudoctor import registry
from gpudoctor.commands.common import print_json


def run(args: argparse.Namespace) -> int:
    reg = registry.load()
    checks = [{"kind": "check", "id": c.id, "title": c.title, "area": c.area.value,
               "source": reg.sources[c.id], "opt_in": c.opt_in}
              for c in reg.ordered_checks(include_opt_in=True)]
    fixes = [{"kind": "fix", "id": f.id, "title": f.title, "area": "",
              "source": reg.sources[f.id]} for f in reg.fixes.values()]
    failures = [{"kind": "failed", "id": f.name, "title": f.error, "area": "",
                 "source": f.source} for f in reg.failures]
    if args.json:
        print_json({"checks": checks, "fixes": fixes, "failures": failures})
        return 0
    rows = checks + fixes + failures
    width = max((len(str(r["id"])) for r in rows), default=10)
    out = sys.stdout
    for title, group in (("Checks", checks), ("Fixes", fixes), ("Plugins that failed to load",
                                                                  failures)):
        if not group:
            continue
        out.write(f"{title}\n")
        for row in group:
            area = f" [{row['area']}]" if row["area"] else ""
            extra = " (runs only when asked)" if row.get("opt_in") else ""
            out.write(f"  {row['id']:<{width}}  {row['title']}{area}{extra}  — {row['source']}\n")
        out.write("\n")
    return 0
