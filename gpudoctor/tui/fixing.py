"""The TUI's side of repairs: plan exactly as `gpudoctor fix` would, then apply.

Everything here runs in worker threads (planning may run `nvidia-ctk --dry-run`, applying
restarts daemons), never on the UI thread. The planning and the plan's text come from
gpudoctor.fixer, so the modal shows the same plan, byte for byte, as the command line.
"""

from __future__ import annotations

from collections.abc import Callable

from gpudoctor import TYPE_CHECKING
from gpudoctor.record import field, record

if TYPE_CHECKING:
    from typing import Any

    from gpudoctor.fixer import ApplyResult
    from gpudoctor.plugin import Plan
    from gpudoctor.report import Doctor

def fixer_available() -> str | None:
    """None when gpudoctor.fixer can be imported, else why fixes cannot be offered."""
    try:
        import gpudoctor.fixer  # noqa: F401
    except Exception as exc:
        return f"repairs are not available in this gpudoctor ({type(exc).__name__}: {exc})"
    return None


@record
class Proposal:
    """The fixes a key press asked for, planned, with whether they can be applied here."""

    fix_ids: list[str] | None
    title: str
    plans: list[Plan] = field(default_factory=list)
    #: render_plan's text, exactly what `gpudoctor fix` prints without colour.
    text: str = ""
    #: The same with the fixer's own ANSI colours (diff lines, warnings).
    coloured: str = ""
    #: None when the fixes can be applied; else why not, with the sudo command to run instead.
    cannot_apply: str | None = None
    #: The exact `sudo gpudoctor fix ...` to run instead, offered for copying.
    sudo_command: str | None = None
    error: str | None = None

    @property
    def to_apply(self) -> list[Plan]:
        return [p for p in self.plans if not p.noop and not p.blocked]

    @property
    def can_apply(self) -> bool:
        return self.error is None and self.cannot_apply is None and bool(self.to_apply)

    @property
    def fix_list(self) -> str:
        return " ".join(p.fix_id for p in self.plans) or " ".join(self.fix_ids or [])


def propose(doctor: Doctor, fix_ids: list[str] | None, title: str,
            options: dict[str, Any] | None = None) -> Proposal:
    """Plan the fixes; a planning failure becomes the proposal's error, never an exception."""
    proposal = Proposal(fix_ids=fix_ids, title=title)
    try:
        from gpudoctor import fixer

        proposal.plans = fixer.plan_fixes(doctor, fix_ids, options)
        proposal.text = fixer.render_plan(proposal.plans, colour=False)
        proposal.coloured = fixer.render_plan(proposal.plans, colour=True)
        block = fixer.root_block(doctor, [p.fix_id for p in proposal.plans])
        if block is not None:
            proposal.cannot_apply, proposal.sudo_command = block.reason, block.sudo
    except Exception as exc:
        proposal.error = f"could not plan the fixes: {type(exc).__name__}: {exc}"
    return proposal


def apply(doctor: Doctor, proposal: Proposal, log: Callable[[str], None],
          options: dict[str, Any] | None = None) -> ApplyResult:
    """Apply a proposal's plans; every failure is reported, none escapes.

    Only called for a proposal that was planned, so gpudoctor.fixer imports here.
    """
    from gpudoctor import fixer

    try:
        return fixer.apply_plans(doctor, proposal.plans, options, log)
    except Exception as exc:
        return fixer.ApplyResult(error=f"{type(exc).__name__}: {exc}")


def apply_problem(doctor: Doctor, fix_ids: list[str] | None) -> str | None:
    """Why these fixes cannot be applied from here (with the sudo command), or None."""
    try:
        from gpudoctor import fixer

        return fixer.root_problem(doctor, fix_ids)
    except Exception as exc:
        return f"cannot tell whether fixes can be applied here: {type(exc).__name__}: {exc}"
