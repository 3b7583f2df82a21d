"""example.note: write a note for the administrator (shows plan, then apply).

A fix plans first, read-only: each step, and a diff for each file it writes. Applying writes
atomically with a backup through gpudoctor.host.safefile, and records the write in the run's
FixContext so a later fix could put it back.
"""

from __future__ import annotations

from collections.abc import Callable

from gpudoctor import fixer
from gpudoctor.errors import HostError
from gpudoctor.facts import Facts
from gpudoctor.host import safefile
from gpudoctor.plugin import Fix, FixContext, Plan

NOTE = "/etc/gpudoctor-example.note"


class WriteNote(Fix):
    id = "example.note"
    title = "Leave a note that the kernel needs an upgrade"
    order = 900

    def plan(self, facts: Facts, ctx: FixContext) -> Plan:
        plan = Plan(self.id, self.title)
        try:
            old = facts.host.read_optional(NOTE)
        except HostError as exc:
            plan.blocked = f"cannot read {NOTE}: {exc.reason}"
            return plan
        new = f"kernel {facts.kernel_release}: upgrade before installing GPU drivers\n"
        if old == new:
            plan.noop, plan.reason = True, f"{NOTE} already says so"
            return plan
        plan.steps.append(fixer.write_step(NOTE, old.encode() if old is not None else None,
                                           new.encode(), f"write {NOTE}"))
        return plan

    def apply(self, plan: Plan, facts: Facts, ctx: FixContext,
              log: Callable[[str], None]) -> None:
        step = plan.steps[0]
        assert step.new_content is not None
        result = safefile.atomic_write(step.path, step.new_content)
        fixer.record_write(ctx, self.id, result, step.new_content)
        log(f"  wrote {step.path}")
