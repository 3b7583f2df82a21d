"""`gpudoctor fix [FIX_ID...] [--yes] [--dry-run] [--bundle PATH] [--pciids-url URL]`.

Runs the checks, plans the fixes the failing checks offer (or exactly the named ones), shows
the plan (commands, a diff of each file, whether running containers are interrupted), asks
once, applies under the fix lock, runs the checks again and says what changed.

Exit codes (report.md):
  0  every planned fix was applied or had nothing to do, and no check that offered one of
     them still fails (nor does a check that passed before); without FIX_IDs ("fix
     everything"), no check fails at all
  1  a fix failed or could not be applied (blocked, not root, another run holds the lock),
     the person answered no, or a check the fixes were for still fails
  2  bad command line: an unknown fix id, a bundle that cannot be read, or no terminal to
     ask on and no --yes (an unattended run must say --yes: nothing is applied silently)
  --dry-run and --root (a host root or snapshot: fixes are shown, never applied) exit as
  `gpudoctor check` does.
"""

from __future__ import annotations

import argparse
import json
import sys

from gpudoctor import TYPE_CHECKING, fixer
from gpudoctor.commands.common import make_doctor
from gpudoctor.plugin import Plan, Status
from gpudoctor.report import Doctor

if TYPE_CHECKING:
    from typing import Any


def _colour(args: argparse.Namespace) -> bool:
    from gpudoctor.textreport import use_colour

    return use_colour(sys.stdout, False if args.no_color else None)


def _options(args: argparse.Namespace) -> dict[str, Any]:
    return {"bundle": args.bundle, "pciids_url": args.pciids_url, "yes": bool(args.yes),
            "dry_run": bool(args.dry_run)}


def _extra_args(args: argparse.Namespace) -> list[str]:
    extra = []
    if args.bundle:
        extra += ["--bundle", args.bundle]
    if args.pciids_url:
        extra += ["--pciids-url", args.pciids_url]
    return extra


def _targeted(doctor: Doctor, plans: list[Plan]) -> list[str]:
    """Checks with a problem that offered one of the planned fixes."""
    planned = {p.fix_id for p in plans}
    return [o.id for o in doctor.outcomes if o.result.status.is_problem
            and planned & set(o.result.fixes)]


def _exit_code(doctor: Doctor, plans: list[Plan], targeted: list[str],
               before: dict[str, Status], explicit: bool, failed: bool) -> int:
    if failed:
        return 1
    if explicit and any(p.blocked for p in plans):
        return 1
    for outcome in doctor.outcomes:
        status = outcome.result.status
        if status is Status.FAIL and (outcome.id in targeted or
                                      before.get(outcome.id) not in (Status.FAIL, None)):
            return 1
    return 0


def _manual(doctor: Doctor) -> list[str]:
    """Failing checks that no fix of this gpudoctor can mend: the person does these by hand."""
    known = set(doctor.load().fixes)
    return [o.id for o in doctor.outcomes if o.result.status is Status.FAIL
            and not (set(o.result.fixes) & known)]


def _manual_lines(doctor: Doctor, before: bool) -> list[str]:
    manual = _manual(doctor)
    if not manual:
        return []
    head = ("Not fixed automatically, whatever you apply here" if before else
            "Still failing, with no automatic fix")
    lines = [f"{head}: {', '.join(manual)}."]
    for outcome in doctor.outcomes:
        if outcome.id in manual and outcome.result.commands:
            lines.append(f"  {outcome.id}: by hand (`gpudoctor check -v` explains):")
            lines.extend(f"    {command}" for command in outcome.result.commands)
    return lines


def _plan_doc(plan: Plan) -> dict[str, Any]:
    return {"id": plan.fix_id, "title": plan.title, "noop": plan.noop,
            "blocked": plan.blocked or None,
            "reason": plan.reason or None if plan.noop else None,
            "interrupts_containers": plan.interrupts_containers, "notes": list(plan.notes),
            "steps": [{"kind": s.kind.value, "description": s.description, "argv": list(s.argv),
                       "path": s.path or None, "diff": s.diff or None} for s in plan.steps]}


def _ask(question: str) -> bool:
    sys.stdout.write(question)
    sys.stdout.flush()
    answer = sys.stdin.readline()
    return answer.strip().lower() in ("y", "yes")


def _changes(before: dict[str, tuple[Status, str]], doctor: Doctor,
             targeted: list[str]) -> list[str]:
    lines = []
    for outcome in doctor.outcomes:
        old = before.get(outcome.id)
        new = outcome.result.status
        if old is None:
            continue
        if old[0] != new or outcome.id in targeted:
            arrow = f"{old[0].value} -> {new.value}" if old[0] != new else f"still {new.value}"
            lines.append(f"  {outcome.id}: {arrow}: {outcome.result.summary}")
    return lines


def run(args: argparse.Namespace) -> int:
    from gpudoctor.deadline import overall_deadline, overall_seconds

    fixer.install_signal_handlers()
    doctor = make_doctor(args)
    options = _options(args)
    explicit = bool(args.fix_ids)
    # Diagnosing and planning change nothing and have an overall deadline; applying has the
    # timeouts of each of its steps (a package manager may rightly take minutes).
    with overall_deadline(overall_seconds(doctor.options.check_timeout),
                          "diagnosing and planning the fixes"):
        doctor.run()
        plans = fixer.plan_fixes(doctor, args.fix_ids or None, options)
    targeted = _targeted(doctor, plans)
    before = {o.id: (o.result.status, o.result.summary) for o in doctor.outcomes}
    statuses = {k: v[0] for k, v in before.items()}
    out = sys.stdout
    active = [p for p in plans if fixer.is_active(p)]
    as_json = bool(args.json)
    doc: dict[str, Any] = {"schema": "gpudoctor.fix/1", "plans": [_plan_doc(p) for p in plans],
                           "applied": [], "unchanged": [], "skipped": [], "rolled_back": [],
                           "failed": None, "error": None}
    if not as_json:
        # Say first what no fix here can mend, so "fix everything" is not mistaken for a cure.
        if not explicit:
            for line in _manual_lines(doctor, before=True):
                out.write(line + "\n")
            if _manual(doctor):
                out.write("\n")
        out.write(fixer.render_plan(plans, colour=_colour(args)))
        out.flush()

    def finish(code: int, message: str | None = None, stream: Any = None) -> int:
        if code == 0 and not explicit and any(o.result.status is Status.FAIL
                                              for o in doctor.outcomes):
            code = 1  # "fix everything" is done only when nothing fails any more
        if as_json:
            doc["still_failing"] = [o.id for o in doctor.outcomes
                                    if o.result.status is Status.FAIL]
            doc["manual"] = _manual(doctor)
            if message:
                doc["message"] = message
            doc["exit_code"] = code
            doc["report"] = doctor.report()
            out.write(json.dumps(doc, indent=2) + "\n")
        elif message:
            (stream or out).write(message + "\n")
        return code

    needs_root = [p for p in plans if not p.noop]
    problem = fixer.root_problem(doctor, args.fix_ids or [p.fix_id for p in needs_root],
                                 _extra_args(args))
    if problem and doctor.host.live and needs_root and not args.dry_run:
        doc["error"] = problem
        return finish(1, f"gpudoctor: error: {problem}. Nothing was changed.", sys.stderr)
    if not active:
        if not plans:
            return finish(_exit_code(doctor, plans, targeted, statuses, explicit, False))
        blocked = [p for p in plans if p.blocked]
        message = ("Nothing to apply: " + ("every planned fix is blocked or has nothing to do "
                   "(see above)." if blocked else "the host is already as these fixes would "
                   "leave it."))
        doc["unchanged"] = [p.fix_id for p in plans if p.noop]
        doc["skipped"] = [p.fix_id for p in blocked]
        return finish(_exit_code(doctor, plans, targeted, statuses, explicit, False), message)
    if args.dry_run:
        return finish(doctor.exit_code(), "Dry run: nothing was changed.")
    if problem:
        return finish(doctor.exit_code(), f"Not applied: {problem}.")
    if not args.yes:
        if as_json or not sys.stdin.isatty():
            return finish(2, "gpudoctor: error: fix asks before changing anything, and there is "
                          "no terminal to ask on: pass --yes to apply this plan unattended, or "
                          "--dry-run to only show it. Nothing was changed.", sys.stderr)
        interrupting = any(p.interrupts_containers for p in active)
        question = (f"Apply {len(active)} fix{'es' if len(active) != 1 else ''}"
                    + (" (running containers WILL be interrupted)" if interrupting else "")
                    + "? [y/N] ")
        if not _ask(question):
            return finish(1, "Nothing was changed.")

    def log(line: str) -> None:
        if not as_json:
            out.write(line + "\n")
            out.flush()

    if not as_json:
        out.write(f"\nApplying {len(active)} fix{'es' if len(active) != 1 else ''}:\n")
    result = fixer.apply_plans(doctor, plans, options, log)
    doc.update({"applied": result.applied, "unchanged": result.unchanged,
                "skipped": result.skipped, "rolled_back": result.rolled_back,
                "failed": result.failed, "error": result.error})
    if result.error and not result.failed:
        return finish(1, f"gpudoctor: error: {result.error}", sys.stderr)
    if result.applied or result.failed:
        if not as_json:
            out.write("\nRunning the checks again...\n")
            out.flush()
        doctor.run()
    lines = []
    if not as_json:
        changes = _changes(before, doctor, targeted)
        if changes:
            lines.append("What changed:")
            lines.extend(changes)
        summary = []
        if result.applied:
            summary.append(f"applied {', '.join(result.applied)}")
        if result.rolled_back:
            summary.append(f"rolled back {', '.join(result.rolled_back)}")
        if result.unchanged:
            summary.append(f"nothing to do for {', '.join(result.unchanged)}")
        if result.skipped:
            summary.append(f"not applied {', '.join(result.skipped)}")
        lines.append("Result: " + ("; ".join(summary) or "nothing applied") + ".")
        if result.failed:
            lines.append(f"FAILED: {result.failed}: {result.error}")
        lines.extend(_manual_lines(doctor, before=False))
    code = _exit_code(doctor, plans, targeted, statuses, explicit, bool(result.failed))
    return finish(code, "\n".join(lines) if lines else None)
