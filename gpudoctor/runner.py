"""Running checks: all at once, each with a timeout, results in a stable order.

Checks run on a small pool of daemon threads (a thread per check costs more than most checks
take on a host root). A worker that stays on one check for long (a daemon that does not answer,
a slow command) is backed by a fresh worker, so the checks queued behind it still start at once:
a check that hangs is reported as `error` after its timeout while the others finish, and, being
on a daemon thread, it cannot keep gpudoctor from exiting. A check that requires another waits
for it and is skipped, with that reason, when the other did not pass or warn.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable, Iterable

from gpudoctor.errors import HostError, UserError
from gpudoctor.facts import Facts, FactTimeout
from gpudoctor.plugin import Check, Result, Status
from gpudoctor.record import record
from gpudoctor.registry import LoadFailure


@record
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


#: Workers running checks at once on the live host, where checks wait on commands and the
#: Docker daemon. A host root starts with one (its checks only read files and share one
#: interpreter lock, so more threads only add switching); SLOW_CHECK adds more where needed.
WORKERS = 4
#: Seconds a worker may spend on one check before a fresh worker is started beside it: the
#: check is waiting (a command, the Docker daemon, a fact another check computes), and the
#: checks queued behind it should not wait too.
SLOW_CHECK = 0.05


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
        #: when a worker took it up (monotonic), and whether another worker was started beside
        self.taken_at: float | None = None
        self.backed = False

    def finish(self, result: Result, duration: float) -> bool:
        """Record the verdict once: the worker's, or the timeout's if that came first. True
        for the caller whose verdict it is."""
        with self.lock:
            if self.done.is_set():
                return False
            self.result, self.duration = result, duration
            self.done.set()
            return True

    def claim_report(self) -> bool:
        with self.lock:
            if self.reported:
                return False
            self.reported = True
            return True


def _queue_order(slots: Iterable[_Slot]) -> list[_Slot]:
    """The slots in the order given, except that each comes after the checks it requires, so a
    worker that waits for a dependency waits for one already taken up."""
    by_id = {slot.check.id: slot for slot in slots}
    placed: set[str] = set()
    ordered: list[_Slot] = []

    def place(slot: _Slot, path: frozenset[str]) -> None:
        cid = slot.check.id
        if cid in placed or cid in path:
            return
        for dep in slot.check.requires:
            if dep in by_id:
                place(by_id[dep], path | {cid})
        placed.add(cid)
        ordered.append(slot)

    for slot in by_id.values():
        place(slot, frozenset())
    return ordered


class _Pool:
    """Daemon worker threads taking checks from one queue; `supervise` adds a worker beside
    each one held up on a check while other checks still wait."""

    def __init__(self, slots: list[_Slot], run: Callable[[_Slot], None]):
        self.queue = deque(slots)
        self.run = run
        self.running: list[_Slot] = []
        self.lock = threading.Lock()
        self.workers = 0

    def start(self, count: int) -> None:
        for _ in range(min(count, len(self.queue))):
            self._spawn()

    def _spawn(self) -> None:
        self.workers += 1
        threading.Thread(target=self._work, daemon=True,
                         name=f"gpudoctor-check-{self.workers}").start()

    def _work(self) -> None:
        while True:
            try:
                slot = self.queue.popleft()
            except IndexError:
                return
            slot.taken_at = time.monotonic()
            with self.lock:
                self.running.append(slot)
            try:
                self.run(slot)
            finally:
                with self.lock:
                    self.running.remove(slot)

    def supervise(self) -> None:
        if not self.queue:
            return
        now = time.monotonic()
        with self.lock:
            held = [s for s in self.running if not s.backed and s.taken_at is not None
                    and now - s.taken_at > SLOW_CHECK]
            for slot in held:
                slot.backed = True
        for _ in held:
            self._spawn()


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

    all_done = threading.Event()
    if not slots:
        all_done.set()

    def finish(slot: _Slot, result: Result, duration: float) -> None:
        if slot.finish(result, duration) and all(s.done.is_set() for s in slots.values()):
            all_done.set()
        if on_result is not None and slot.claim_report():
            on_result(_outcome(slot, sources))

    def worker(slot: _Slot) -> None:
        start = time.monotonic()
        result = None
        try:
            for dep in slot.check.requires:
                dep_slot = slots.get(dep)
                if dep_slot is None:
                    continue
                dep_slot.done.wait()
                dep_result = dep_slot.result
                if dep_result is None or dep_result.status not in (Status.PASS, Status.WARN):
                    status = dep_result.status.value if dep_result else "timed out"
                    result = Result.skip(f"skipped because {dep} did not pass ({status})")
                    return
            with facts.waiting_until(deadlines[slot.check.id]):
                result = _run_one(slot.check, facts)
        except UserError as exc:
            slot.user_error = exc
            result = Result.error(str(exc))
        finally:  # a plugin calling sys.exit() still leaves a verdict
            finish(slot, result or Result.error("the check stopped without a result"),
                   time.monotonic() - start)

    started = time.monotonic()
    # A dependent check may legitimately wait for its dependency's own timeout first.
    deadlines = {cls.id: started + limit_of(cls) * (1 + len(cls.requires)) for cls in classes}
    pool = _Pool(_queue_order(slots.values()), worker)
    # On a host root nothing waits on a command or a daemon, so one worker does the work without
    # trading the interpreter lock; one held up all the same is backed by supervise().
    pool.start(WORKERS if facts.host.live else 1)
    # The main thread only wakes to back a held-up worker or to time a check out: waking on
    # every finished check would take the interpreter lock from the workers each time.
    while not all_done.is_set():
        now = time.monotonic()
        waiting = [slot for slot in slots.values() if not slot.done.is_set()]
        for slot in waiting:
            if deadlines[slot.check.id] <= now:
                limit = limit_of(type(slot.check))
                finish(slot, Result.error(
                    f"timed out after {limit:g} s",
                    details="The check did not finish in time; something it asks (a command, "
                            "the Docker daemon, a file) is not answering."), limit)
        soonest = min((deadlines[s.check.id] for s in waiting if not s.done.is_set()),
                      default=now)
        all_done.wait(max(0.0, min(soonest - now, SLOW_CHECK)))
        pool.supervise()
    outcomes = []
    for cls in classes:
        slot = slots[cls.id]
        if slot.user_error is not None:
            raise slot.user_error
        outcomes.append(_outcome(slot, sources))
    return outcomes


def _outcome(slot: _Slot, sources: dict[str, str]) -> Outcome:
    check = slot.check
    assert slot.result is not None
    return Outcome(id=check.id, title=check.title, area=check.area.value, result=slot.result,
                   duration=slot.duration, source=sources.get(check.id, "built in"))
