"""A fix's plan on a host root, made in process as `gpudoctor fix ID --root R --dry-run` makes it.

tests/fixes/ reads plans this way: the same Doctor, the same fixer.plan_fixes and the same
render_plan text the command prints, without starting a `gpudoctor` process per plan.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from gpudoctor import fixer
from gpudoctor.facts import Options
from gpudoctor.host import open_host
from gpudoctor.plugin import Plan
from gpudoctor.report import Doctor


def plans_for(root: Path, *fix_ids: str, **options: Any) -> list[Plan]:
    """The plans of `fix_ids` on `root`, in the order the fixer would apply them."""
    doctor = Doctor(open_host(str(root)), Options())
    return fixer.plan_fixes(doctor, list(fix_ids), {"dry_run": True, **options})


def plan_text(root: Path, *fix_ids: str, **options: Any) -> str:
    """The plan as `gpudoctor fix ... --dry-run` prints it (without colour)."""
    return fixer.render_plan(plans_for(root, *fix_ids, **options))
