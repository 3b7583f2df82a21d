"""Running checks: all at once, each with a timeout, results in a stable order.

Each check runs in its own daemon thread, so a check that hangs (a daemon that never answers,
a command that never returns) is reported as `error` after its timeout while the others finish,
and it cannot keep gpudoctor from exiting. A check that requires another waits for it and is
skipped, with that reason, when the other did not pass or warn.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from gpudoctor.errors import HostError, UserError
from gpudoctor.facts import Facts, FactTimeout
from gpudoctor.plugin import Check, Result, Status
from gpudoctor.registry import LoadFailure


@dataclass
class Outcome:
    """A check's result with what the report needs to say about the check itself."""

    id: str
    title: str
    area: str
    result: Result
    duration: float = 0.0
    source: str = "built in"

    def to_report(self) -> dict:
        r = self.result
        return {
            "id": self.id, "title": self.title, "area": self.area, "status": r.status.value,
            "summary": r.summary, "details": r.details, "fixes": list(r.fixes),
            "evidence": list(r.evidence), "remedy": r.remedy, "commands": list(r.commands),
            "findings": list(r.findings), "cause": r.cause, "source": self.source,
            "duration_ms": round(self.duration * 1000, 1),
        }


def failure_outcome(failure: LoadFailure) -> Outcome:
    """A plugin that could not be loaded, as an `error` result naming it."""
    return Outcome(
        id=f"plugin.{failure.name}", title=f"Plugin {failure.name}", area="Other",
        result=Result.error(
            f"the plugin {failure.name} ({failure.source}) could not be loaded: {failure.error}",
            details="A check or fix plugin failed to import. The other checks still ran; "
                    "this one's verdict is unknown.",
            remedy=f"Update or uninstall the package that provides {failure.name}."),
        source=failure.source)


def _run_one(check: Check, facts: Facts) -> Result:
    try:
        reason = check.applies(facts)
        if reason:
            return Result.skip(reason)
        result = check.run(facts)
        if not isinstance(result, Result):
            return Result.error(f"the check returned {type(result).__name__}, not a Result")
        return result
    except UserError:
        raise
    except FactTimeout as exc:
        return Result.error(f"timed out: {exc.reason.split(' (')[0]} ({exc.name})",
                            details="A fact this check needs was being worked out by another "
                                    "check that did not finish in time: " + exc.reason + ".")
    except HostError as exc:
        return Result.error(f"could not read {exc.path}: {exc.reason}",
                            details="The check needs this file to decide; its verdict is unknown.")
    except Exception as exc:
        import traceback  # only a crashing check pays for it

        tb = traceback.format_exception(type(exc), exc, exc.__traceback__)
        return Result.error(f"the check crashed: {type(exc).__name__}: {exc}",
                            details="".join(tb[-3:]).strip())


class _Slot:
    def __init__(self, check: Check):
        self.check = check
        self.done = threading.Event()
        self.result: Result | None = None
        self.duration = 0.0
        self.user_error: UserError | None = None
        #: set once the outcome was handed to on_result (the timeout path may get there first)
        self.reported = False
        self.lock = threading.Lock()

    def claim_report(self) -> bool:
        with self.lock:
            if self.reported:
                return False
            self.reported = True
            return True


def run_checks(checks: Iterable[type[Check]], facts: Facts, timeout: float | None = None,
               sources: dict[str, str] | None = None,
               on_result: Callable[[Outcome], None] | None = None) -> list[Outcome]:
    """Run checks concurrently and return their outcomes in the order given."""
    classes = list(checks)
    slots = {cls.id: _Slot(cls()) for cls in classes}
    default_timeout = timeout if timeout is not None else facts.options.check_timeout
    given = bool(getattr(facts.options, "timeout_given", False))
    sources = sources or {}

    def limit_of(cls: type[Check]) -> float:
        """The check's own timeout, unless the person gave --timeout (then theirs, for all)."""
        return default_timeout if given or cls.timeout is None else cls.timeout

    def worker(slot: _Slot) -> None:
        start = time.monotonic()
        cls = type(slot.check)
        deadline = started + limit_of(cls) * (1 + len(cls.requires))
        try:
            for dep in slot.check.requires:
                dep_slot = slots.get(dep)
                if dep_slot is None:
                    continue
                dep_slot.done.wait()
                dep_result = dep_slot.result
                if dep_result is None or dep_result.status not in (Status.PASS, Status.WARN):
                    status = dep_result.status.value if dep_result else "timed out"
                    slot.result = Result.skip(f"skipped because {dep} did not pass ({status})")
                    return
            with facts.waiting_until(deadline):
                result = _run_one(slot.check, facts)
            if not slot.done.is_set():
                slot.result = result
        except UserError as exc:
            slot.user_error = exc
            slot.result = Result.error(str(exc))
        finally:
            if not slot.done.is_set():
                slot.duration = time.monotonic() - start
                slot.done.set()
            if on_result is not None and slot.result is not None and slot.claim_report():
                on_result(_outcome(slot, sources))

    started = time.monotonic()
    for slot in slots.values():
        threading.Thread(target=worker, args=(slot,), daemon=True,
                         name=f"check:{slot.check.id}").start()
    outcomes = []
    for cls in classes:
        slot = slots[cls.id]
        limit = limit_of(cls)
        # A dependent check may legitimately wait for its dependency's own timeout first.
        waited_for = limit * (1 + len(cls.requires))
        remaining = waited_for - (time.monotonic() - started)
        if not slot.done.wait(max(remaining, 0.0)):
            slot.result = Result.error(
                f"timed out after {limit:g} s",
                details="The check did not finish in time; something it asks (a command, "
                        "the Docker daemon, a file) is not answering.")
            slot.duration = limit
            slot.done.set()
            if on_result is not None and slot.claim_report():
                on_result(_outcome(slot, sources))
        if slot.user_error is not None:
            raise slot.user_error
        outcomes.append(_outcome(slot, sources))
    return outcomes


def _outcome(slot: _Slot, sources: dict[str, str]) -> Outcome:
    check = slot.check
    assert slot.result is not None
    return Outcome(id=check.id, title=check.title, area=check.area.value, result=slot.result,
                   duration=slot.duration, source=sources.get(check.id, "built in"))
