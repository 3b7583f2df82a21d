"""Planning, ordering, showing and applying fixes: what `gpudoctor fix` and the TUI share.

(About 500 lines: the engine that both front ends drive; rendering is its smallest part.)

A fix is planned first, read-only: the commands it will run, a unified diff of each file it
will change, whether running containers are interrupted, or why there is nothing to do or
why it cannot be done here. Plans are ordered by the fixes' `after` declarations (install the
toolkit, declare the runtime, then reload or restart Docker). Applying takes the fix lock,
runs the plans in that order and stops at the first failure; each fix leaves the host as it
was before its own step when it fails, and `docker.reload` also puts back the files this run
changed when the daemon rejects them.

Options understood by the built-in fixes (fields of plugin.FixOptions; a dict with these keys
is accepted too and becomes one):
  bundle        path of an offline toolkit bundle (folder or release .tar.gz) for
                nvidia.install_toolkit
  install_root  install the bundle's packages into this folder (`dpkg --root` / `rpm --root`)
                instead of `/`; used by the tests, also handy to inspect a bundle
  pciids_url    where pciids.update downloads from (default the pci-ids.ucw.cz HTTPS URL)
  pciids_path   the pci.ids file to replace (default: the one the host uses)
  pciids_max_bytes  size cap of the download (default 16 MiB)
  pciids_timeout    seconds without data before the download is given up (default 30)
  set_default_runtime  docker.configure_nvidia_runtime also sets "default-runtime": "nvidia"
  enable_cdi    docker.configure_nvidia_runtime also sets features.cdi (keeping other features)
  yes, dry_run  what the person asked for on the command line
  lock_wait     seconds to wait for another run's lock (default 5)
  verify_timeout  seconds docker.reload waits for the daemon to show its new configuration
Each fix gets a plugin.FixContext: those options, the plans of the fixes before it in this
run, and the journal of files written during this run.
"""

from __future__ import annotations

import contextlib
import os
import shlex
import signal
from collections.abc import Callable

from gpudoctor import TYPE_CHECKING, plugin
from gpudoctor.errors import HostError, UserError
from gpudoctor.host import changes, safefile
from gpudoctor.host.base import CommandResult
from gpudoctor.host.signals import SignalHold
from gpudoctor.plugin import (
    Fix,
    FixContext,
    FixFailed,
    FixOptions,
    Outcome,
    Plan,
    Step,
    StepKind,
    WrittenFile,
    adopt_legacy_keys,
)
from gpudoctor.record import field, record

if TYPE_CHECKING:
    from typing import Any

    from gpudoctor.report import Doctor

Log = Callable[[str], None]


class PlanOutdated(FixFailed):
    """What a plan was made from changed before it could be applied (nothing was changed).

    apply_plans makes that fix's plan again under the lock: when it now has nothing to do (or
    does exactly what the person saw) it goes on, else it stops with this error."""


@record
class ApplyResult:
    """What apply_plans did: fixes applied, found to have nothing to do, the one that failed."""

    applied: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    failed: str | None = None
    error: str | None = None
    #: Planned fixes that were not applied: blocked, or after the failure.
    skipped: list[str] = field(default_factory=list)
    #: Applied fixes whose files a later failing step put back (not in `applied`).
    rolled_back: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.failed is None and self.error is None

    def describe(self) -> str:
        """The outcome in a few sentences (the TUI's fix modal shows this)."""
        parts = []
        if self.applied:
            parts.append("Applied: " + ", ".join(self.applied) + ".")
        if self.unchanged:
            parts.append("Already in place: " + ", ".join(self.unchanged) + ".")
        if self.failed or self.error:
            what = f"{self.failed} failed" if self.failed else "Applying failed"
            parts.append(f"{what}: {self.error or 'no reason given'}.")
            if self.failed:
                parts.append("The host was left as it was before that step.")
        if self.rolled_back:
            parts.append("Put back as they were: " + ", ".join(self.rolled_back) + ".")
        if self.skipped:
            parts.append("Not applied: " + ", ".join(self.skipped) + ".")
        return " ".join(parts) or "Nothing was changed."


# ----- interruptions ---------------------------------------------------------------------------
#: SIGTERM/SIGHUP/SIGINT become KeyboardInterrupt, so every `finally` cleans up; inside a
#: critical section (a package manager running) the interruption waits for it to end.
_SIGNALS = SignalHold((signal.SIGTERM, signal.SIGINT, signal.SIGHUP))


def install_signal_handlers() -> None:
    """Called by `gpudoctor fix`: an interrupted run still leaves every file old or new."""
    _SIGNALS.install()


def critical() -> contextlib.AbstractContextManager[None]:
    """Hold interruptions back while a command that must not be cut short runs."""
    return _SIGNALS.critical()


# ----- helpers the fix modules use ------------------------------------------------------------
def sha256(data: bytes | None) -> str | None:
    """A file's fingerprint, to tell whether it changed between plan and apply."""
    if data is None:
        return None
    import hashlib  # imported here: `gpudoctor --json` loads this module and never hashes

    return hashlib.sha256(data).hexdigest()


def is_active(plan: Plan | None) -> bool:
    """True when a plan will change something (planned, not a no-op, not blocked)."""
    return plan is not None and not plan.noop and not plan.blocked


def write_step(path: str, old: bytes | None, new: bytes, description: str) -> Step:
    """A Step that writes one file, with its diff."""
    return Step(kind=StepKind.WRITE, description=description, path=path,
                diff=safefile.unified_diff(old, new, path), new_content=new)


def record_write(ctx: FixContext, fix_id: str, result: safefile.WriteResult,
                 content: bytes) -> None:
    """Remember a file this run changed, so a later step (docker.reload) can put it back."""
    ctx.written.append(WrittenFile(fix_id, result.path, result.backup, result.created,
                                   sha256(content)))


def write_planned(ctx: FixContext, fix_id: str, path: str, content: bytes,
                  old_sha: str | None, log: Log,
                  mode: int | None = None) -> safefile.WriteResult:
    """Write what the plan showed, only if the file is still as it was when planned (else
    PlanOutdated: the plan is made again), atomically with a backup, and journal the write."""
    if sha256(safefile.read_current(path)) != old_sha:
        raise PlanOutdated(f"{path} changed since the plan was made")
    result = safefile.atomic_write(path, content, mode=mode)
    record_write(ctx, fix_id, result, content)
    if result.backup:
        log(f"  kept the previous {path} as {result.backup}")
    log(f"  wrote {path}")
    return result


def earlier_plan(ctx: FixContext, fix_id: str) -> Plan | None:
    """Transition alias of `ctx.earlier(fix_id)` for fixes written for the options dict."""
    return ctx.earlier(fix_id)


def as_context(options: FixOptions | FixContext | dict[str, Any] | None) -> FixContext:
    """The run's context from what a caller has: a context, options, or an options dict."""
    if isinstance(options, FixContext):
        return options
    if isinstance(options, FixOptions):
        return FixContext(options)
    return FixContext(FixOptions.from_dict(options))


def format_argv(argv: list[str]) -> str:
    return " ".join(shlex.quote(a) for a in argv)


def run_command(argv: list[str], log: Log, timeout: float = 120.0, input: str | None = None,
                env: dict[str, str] | None = None, what: str | None = None) -> CommandResult:
    """Run a command that changes the host; raise FixFailed with its own error on failure.

    Only fixes use this (the Host layer runs read-only commands). Interruptions wait until
    it ends (critical()). Output is streamed to `log` line by line once the command ends.
    """
    log(f"$ {format_argv(argv)}")
    with critical():
        result = changes.execute(argv, timeout, input=input, env=env)
    if result.missing:
        raise FixFailed(f"`{argv[0]}` cannot be run: {result.stderr}" if result.stderr else
                        f"`{argv[0]}` is not installed")
    if result.timed_out:
        raise FixFailed(f"`{format_argv(argv)}` did not finish within {timeout:g} s")
    for line in (result.stdout + result.stderr).splitlines():
        if line.strip():
            log(f"  {line}")
    if result.returncode != 0:
        tail = [ln for ln in (result.stderr or result.stdout).strip().splitlines() if ln.strip()]
        reason = tail[-1] if tail else "no output"
        raise FixFailed(f"{what or '`' + format_argv(argv) + '`'} failed "
                        f"(exit status {result.returncode}): {reason}")
    return result


# ----- planning -------------------------------------------------------------------------------
def offered_fixes(doctor: Doctor) -> list[str]:
    """Fix ids offered by checks whose status is fail, warn or error, in report order."""
    return plugin.offered_fixes(o.result for o in doctor.outcomes)


def order_fixes(fix_ids: list[str], fixes: dict[str, type[Fix]]) -> list[str]:
    """Order by `after` (a fix comes after the ones it names, when they are planned too),
    else by each fix's `order` attribute."""
    pending = sorted(dict.fromkeys(fix_ids),
                     key=lambda f: (getattr(fixes.get(f), "order", Fix.order), f))
    ordered: list[str] = []
    while pending:
        for fid in pending:
            deps = [d for d in getattr(fixes.get(fid), "after", ()) if d in pending and d != fid]
            if not deps:
                ordered.append(fid)
                pending.remove(fid)
                break
        else:  # a cycle between third-party fixes: keep the stable order for the rest
            ordered.extend(pending)
            break
    return ordered


def _plan_one(fix_cls: type[Fix], facts: Any, ctx: FixContext) -> Plan:
    try:
        plan = fix_cls().plan(facts, ctx)
    except UserError:
        raise
    except HostError as exc:
        plan = Plan(fix_cls.id, fix_cls.title, blocked=f"could not read {exc.path}: {exc.reason}")
    except Exception as exc:  # a broken fix must not take the plan down
        plan = Plan(fix_cls.id, fix_cls.title,
                    blocked=f"planning this fix crashed: {type(exc).__name__}: {exc}")
    adopt_legacy_keys(plan)
    if not plan.fix_id:
        plan.fix_id = fix_cls.id
    if not plan.title:
        plan.title = fix_cls.title
    return plan


def _plan_ids(doctor: Doctor, ids: list[str], ctx: FixContext) -> list[Plan]:
    reg = doctor.load()
    facts = doctor.facts or doctor.fresh_facts()
    plans: list[Plan] = []
    earlier: dict[str, Plan] = {}
    for fid in ids:
        plan = _plan_one(reg.fixes[fid], facts, ctx.after(earlier))
        plans.append(plan)
        earlier[fid] = plan
    return plans


def plan_fixes(doctor: Doctor, fix_ids: list[str] | None = None,
               options: FixOptions | FixContext | dict[str, Any] | None = None) -> list[Plan]:
    """Plans for the fixes the failing checks offer (or exactly `fix_ids`), in order.

    Runs the checks first when the doctor has not run. Unknown ids raise UserError. Without
    explicit ids, a fix a plan suggests (rootless Docker also needs no-cgroups) is added.
    """
    ctx = as_context(options)
    if not doctor.outcomes:
        doctor.run()
    reg = doctor.load()
    if fix_ids:
        unknown = [f for f in fix_ids if f not in reg.fixes]
        if unknown:
            known = ", ".join(sorted(reg.fixes)) or "none"
            raise UserError(f"unknown fix id {', '.join(unknown)} (known fixes: {known})")
        wanted = list(dict.fromkeys(fix_ids))
    else:
        wanted = [f for f in offered_fixes(doctor) if f in reg.fixes]
    ids = order_fixes(wanted, reg.fixes)
    plans = _plan_ids(doctor, ids, ctx)
    if not fix_ids:
        extra = [s for p in plans if is_active(p) for s in p.suggests
                 if s in reg.fixes and s not in ids]
        if extra:
            ids = order_fixes(ids + extra, reg.fixes)
            plans = _plan_ids(doctor, ids, ctx)
    return plans


# ----- root and live checks -------------------------------------------------------------------
def sudo_command(doctor: Doctor, fix_ids: list[str] | None = None,
                 extra: list[str] | None = None) -> str:
    """The exact command to run as root, keeping DOCKER_HOST when the person set one."""
    ids = fix_ids if fix_ids is not None else offered_fixes(doctor)
    parts = ["sudo"]
    if doctor.host.getenv("DOCKER_HOST"):
        parts.append("--preserve-env=DOCKER_HOST")
    parts += ["gpudoctor", "fix", *ids, *(extra or [])]
    return format_argv(parts)


@record
class RootBlock:
    """Why fixes cannot be applied from this process, and the command that can, if any."""

    reason: str
    #: The exact `sudo gpudoctor fix ...` to run instead (None for a host root).
    sudo: str | None = None


def root_block(doctor: Doctor, fix_ids: list[str] | None = None,
               extra_args: list[str] | None = None) -> RootBlock | None:
    """None when fixes can be applied here; else why not, with the sudo command as a field."""
    if not doctor.host.live:
        return RootBlock(f"{doctor.host.describe()} is not the machine gpudoctor runs on: fixes "
                         "are shown, never applied (run `gpudoctor fix` on that host itself)")
    if os.geteuid() != 0:
        command = sudo_command(doctor, fix_ids, extra_args)
        return RootBlock(f"fixes change system files and need root: run `{command}`", command)
    return None


def root_problem(doctor: Doctor, fix_ids: list[str] | None = None,
                 extra_args: list[str] | None = None) -> str | None:
    """None when fixes can be applied here; else the one-line reason (with what to run)."""
    block = root_block(doctor, fix_ids, extra_args)
    return block.reason if block else None


# ----- rendering ------------------------------------------------------------------------------
def _paint(text: str, code: str, colour: bool) -> str:
    return f"\x1b[{code}m{text}\x1b[0m" if colour else text


def _diff_lines(diff: str, colour: bool, indent: str) -> list[str]:
    out = []
    for line in diff.rstrip("\n").splitlines():
        code = ""
        if line.startswith(("+++", "---")):
            code = "1"
        elif line.startswith("+"):
            code = "32"
        elif line.startswith("-"):
            code = "31"
        elif line.startswith("@@"):
            code = "36"
        out.append(indent + (_paint(line, code, colour) if code else line))
    return out


def render_plan(plans: list[Plan], colour: bool = False) -> str:
    """The plan as a person reads it before saying yes."""
    if not plans:
        return "No fixes to plan: no check that offers a fix reported a problem.\n"
    active = [p for p in plans if is_active(p)]
    interrupting = [p for p in active if p.interrupts_containers]
    head = f"Plan: {len(plans)} fix{'es' if len(plans) != 1 else ''}"
    bits = [f"{len(active)} to apply"]
    if len(active) != len(plans):
        bits.append(f"{len(plans) - len(active)} with nothing to do or blocked")
    if interrupting:
        bits.append(f"{len(interrupting)} interrupting running containers")
    out = [_paint(f"{head} ({', '.join(bits)})", "1", colour), ""]
    for n, plan in enumerate(plans, 1):
        out.append(_paint(f"{n}. {plan.fix_id}: {plan.title}", "1", colour))
        if plan.noop:
            out.append(f"   nothing to do: {_reason(plan)}")
        elif plan.blocked:
            out.append("   " + _paint(f"blocked: {plan.blocked}", "33", colour))
        for step in plan.steps:
            if plan.noop:
                break
            if step.kind in (StepKind.COMMAND, StepKind.SIGNAL):
                cmd = format_argv(step.argv) if step.argv else ""
                out.append(f"   - {step.description}" + (f":\n       {cmd}" if cmd else ""))
            elif step.kind is StepKind.WRITE:
                out.append(f"   - {step.description}")
                if step.diff:
                    out.extend(_diff_lines(step.diff, colour, "       "))
            else:
                out.append(f"   - {step.description}")
        if not plan.noop and not plan.blocked:
            if plan.interrupts_containers:
                out.append("   " + _paint("interrupts running containers: yes", "31", colour))
            else:
                out.append("   interrupts running containers: no")
        for note in plan.notes:
            out.append(f"   note: {note}")
        out.append("")
    return "\n".join(out).rstrip("\n") + "\n"


def _reason(plan: Plan) -> str:
    return plan.reason or "the host is already as this fix would leave it"


# ----- applying -------------------------------------------------------------------------------
def _same_effect(old: Plan, new: Plan) -> bool:
    """True when a re-made plan changes the same things as the one the person saw."""
    if new.noop or old.noop:
        return new.noop
    key = lambda p: [(s.kind, tuple(s.argv), s.path, s.diff) for s in p.steps]  # noqa: E731
    return key(old) == key(new) and bool(old.blocked) == bool(new.blocked)


def apply_plans(doctor: Doctor, plans: list[Plan],
                options: FixOptions | FixContext | dict[str, Any] | None, log: Log) -> ApplyResult:
    """Apply plans in order under the fix lock; stop at the first failure.

    A fix that fails leaves the host as it was before its step (and docker.reload also puts
    back the files this run wrote when the daemon rejects them). Plans marked `deferred`
    (computed before a fix they depend on was applied) are made again just before applying.
    If another run held the lock meanwhile, every plan is made again and the run stops
    unless each still does the same thing (or now has nothing to do).
    """
    result = ApplyResult()
    problem = root_problem(doctor, [p.fix_id for p in plans])
    if problem:
        result.error = problem
        result.skipped = [p.fix_id for p in plans]
        return result
    reg = doctor.load()
    ctx = as_context(options)
    wait = float(ctx.options.get("lock_wait", safefile.DEFAULT_LOCK_WAIT))

    def waiting(holder: str) -> None:
        log(f"waiting up to {wait:g} s for another gpudoctor fix to finish"
            + (f" ({holder})" if holder else ""))

    safefile.checkpoint("planned")
    try:
        with safefile.fix_lock(wait=wait, on_wait=waiting) as waited:
            if waited:
                fresh = plan_fixes_again(doctor, plans, ctx)
                changed = [n.fix_id for o, n in zip(plans, fresh, strict=True)
                           if not _same_effect(o, n)]
                if changed:
                    result.error = (
                        "the host changed while this run waited for the other one ("
                        + ", ".join(changed) + " would now do something else); nothing was "
                        "applied: run gpudoctor fix again to see the new plan")
                    result.skipped = [p.fix_id for p in plans]
                    return result
                plans = fresh
            _apply_in_order(doctor, reg, plans, ctx, log, result)
    except safefile.LockBusy as exc:
        result.error = str(exc)
        result.skipped = [p.fix_id for p in plans]
    return result


def plan_fixes_again(doctor: Doctor, plans: list[Plan], ctx: FixContext) -> list[Plan]:
    """Make the same plans again from fresh facts (the host may have changed)."""
    doctor.fresh_facts()
    return _plan_ids(doctor, [p.fix_id for p in plans], ctx)


def _replan_outdated(doctor: Doctor, reg: Any, plan: Plan, ctx: FixContext, log: Log,
                     stale: PlanOutdated) -> Plan:
    """Plan a fix again after PlanOutdated; raise it again unless the new plan is harmless."""
    log(f"{plan.fix_id}: {stale}; planning it again")
    facts = doctor.fresh_facts()
    fresh = _plan_one(reg.fixes[plan.fix_id], facts, ctx)
    if fresh.noop:
        log(f"{plan.fix_id}: nothing to do now: {_reason(fresh)}")
        return fresh
    if _same_effect(plan, fresh):
        return fresh
    raise PlanOutdated(f"{stale}; it would now do something else, so nothing was applied: run "
                       "gpudoctor fix again to see the new plan")


def _apply_in_order(doctor: Doctor, reg: Any, plans: list[Plan], ctx: FixContext,
                    log: Log, result: ApplyResult) -> None:
    earlier: dict[str, Plan] = {}
    for index, plan in enumerate(plans):
        fid = plan.fix_id
        if plan.deferred and not plan.noop:
            facts = doctor.fresh_facts()
            plan = _plan_one(reg.fixes[fid], facts, ctx.after(earlier))
            log(f"{fid}: planned again now that the fixes before it were applied")
            if plan.deferred and not plan.noop and not plan.blocked:
                plan.blocked = "it still depends on a fix that did not take effect"
        earlier[fid] = plan
        if plan.noop:
            log(f"{fid}: nothing to do: {_reason(plan)}")
            result.unchanged.append(fid)
            continue
        if plan.blocked:
            log(f"{fid}: not applied: {plan.blocked}")
            result.skipped.append(fid)
            continue
        log(f"{fid}: {plan.title}")
        facts = doctor.facts or doctor.fresh_facts()
        fix_ctx = ctx.after(earlier)
        try:
            try:
                reg.fixes[fid]().apply(plan, facts, fix_ctx, log)
            except PlanOutdated as stale:
                plan = _replan_outdated(doctor, reg, plan, fix_ctx, log, stale)
                earlier[fid] = plan
                if plan.noop:
                    result.unchanged.append(fid)
                    continue
                reg.fixes[fid]().apply(plan, doctor.facts, fix_ctx, log)
        except FixFailed as exc:
            result.failed, result.error = fid, str(exc)
        except (safefile.UnsafeWrite, HostError) as exc:
            result.failed, result.error = fid, str(exc)
        except KeyboardInterrupt:
            raise
        except Exception as exc:
            result.failed = fid
            result.error = f"{fid} crashed: {type(exc).__name__}: {exc}"
        if result.failed:
            log(f"{fid}: FAILED: {result.error}")
            result.skipped.extend(p.fix_id for p in plans[index + 1:])
            undone = {w.fix for w in ctx.written if w.restored}
            for other in list(result.applied):
                mine = [w for w in ctx.written if w.fix == other]
                if other in undone and all(w.restored for w in mine):
                    result.applied.remove(other)
                    result.rolled_back.append(other)
            return
        adopt_legacy_keys(plan)
        if plan.outcome is Outcome.UNCHANGED:
            result.unchanged.append(fid)
        else:
            result.applied.append(fid)
        safefile.checkpoint(f"applied {fid}")
