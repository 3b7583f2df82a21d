"""In-process runs of ONE hardware check on a host root: Facts(open_host(root)) and the check
class, its `applies` asserted, without the other checks (tests/support/check_run.py runs them
all, with `requires`) and without a subprocess (tests/checks/test_<check>.py)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from gpudoctor.facts import Facts, Options
from gpudoctor.host import open_host
from gpudoctor.plugin import Check, Result
from tests.support import scenarios as sc
from tests.support.check_run import verdict
from tests.support.hostroot import HostRootBuilder


def build(root: Path, name: str, change: Callable[[HostRootBuilder], Any] | None = None,
          after: Callable[[Path], Any] | None = None) -> Path:
    """Scenario `name` built at `root`, with `change(builder)` before finish and `after(root)`
    after it."""
    b = HostRootBuilder(root)
    sc.SCENARIOS[name](b)
    if change is not None:
        change(b)
    built = b.finish()
    if after is not None:
        after(built)
    return built


def judge(check: type[Check], root: Path, **options: Any) -> Result:
    """The check's result on `root`; it must apply there (a skip reason fails the test)."""
    facts = Facts(open_host(str(root)), Options(**options))
    instance = check()
    reason = instance.applies(facts)
    assert reason is None, f"{check.id} does not apply: {reason}"
    return instance.run(facts)


def skip_reason(check: type[Check], root: Path, **options: Any) -> str | None:
    """Why the check does not apply on `root` (None when it does)."""
    return check().applies(Facts(open_host(str(root)), Options(**options)))


#: (status, finding ids): what the tests decide on
found = verdict
