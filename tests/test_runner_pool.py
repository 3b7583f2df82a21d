"""The runner's worker pool keeps the one-thread-per-check guarantees: checks held up on
something slow do not hold up the others, a dependency is waited for even when it comes later
in the order, and the outcomes stay in the order given."""

from __future__ import annotations

import threading
import time
from pathlib import Path

from gpudoctor import runner
from gpudoctor.facts import Facts, Options
from gpudoctor.host.rootfs import RootHost
from gpudoctor.plugin import Area, Check, Result, Status
from gpudoctor.runner import run_checks


def _facts(tmp_path: Path, timeout: float = 5.0) -> Facts:
    (tmp_path / "etc").mkdir(exist_ok=True)
    return Facts(RootHost(str(tmp_path)), Options(check_timeout=timeout, timeout_given=True))


def _check(cid: str, run, requires: tuple[str, ...] = ()) -> type[Check]:
    return type(cid.replace(".", "_"), (Check,), {
        "id": cid, "title": cid, "area": Area.OTHER, "requires": requires,
        "run": lambda self, facts: run()})


def test_more_held_up_checks_than_workers_do_not_hold_up_the_rest(tmp_path: Path) -> None:
    release = threading.Event()
    held = [_check(f"held.n{i}", lambda: (release.wait(3), Result.passed("late"))[1])
            for i in range(runner.WORKERS + 2)]
    quick = [_check(f"quick.n{i}", lambda: Result.passed("quick")) for i in range(20)]
    finished: dict[str, float] = {}
    started = time.monotonic()
    try:
        outcomes = run_checks(held + quick, _facts(tmp_path),
                              on_result=lambda o: finished.setdefault(o.id, time.monotonic()))
    finally:
        release.set()
    assert [o.id for o in outcomes] == [c.id for c in held + quick]
    assert all(o.result.status is Status.PASS for o in outcomes)
    # every quick check was done long before the held ones let go (3 s)
    assert max(finished[c.id] for c in quick) - started < 1.5, finished


def test_a_hung_check_is_an_error_after_its_timeout_while_the_others_finish(
        tmp_path: Path) -> None:
    release = threading.Event()
    hung = [_check(f"hung.n{i}", lambda: (release.wait(30), Result.passed("never"))[1])
            for i in range(runner.WORKERS)]
    quick = [_check(f"quick.n{i}", lambda: Result.passed("quick")) for i in range(8)]
    started = time.monotonic()
    try:
        outcomes = run_checks(hung + quick, _facts(tmp_path, timeout=1.0))
    finally:
        release.set()
    assert time.monotonic() - started < 3
    by_id = {o.id: o.result for o in outcomes}
    assert {by_id[c.id].summary for c in hung} == {"timed out after 1 s"}
    assert {by_id[c.id].status for c in quick} == {Status.PASS}


def test_a_dependency_later_in_the_order_is_waited_for_not_deadlocked(tmp_path: Path) -> None:
    gate = threading.Event()

    def slow_pass() -> Result:
        gate.wait(0.3)
        return Result.passed("dep")

    # each dependent comes before its dependency, more of them than there are workers
    dependents = [_check(f"a.needs_{i}", lambda: Result.passed("ran"), (f"z.dep_{i}",))
                  for i in range(runner.WORKERS + 1)]
    deps = [_check(f"z.dep_{i}", slow_pass) for i in range(runner.WORKERS + 1)]
    started = time.monotonic()
    outcomes = run_checks(dependents + deps, _facts(tmp_path))
    assert time.monotonic() - started < 2
    assert [o.id for o in outcomes] == [c.id for c in dependents + deps]
    assert {o.result.summary for o in outcomes[:len(dependents)]} == {"ran"}
