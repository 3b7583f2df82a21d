"""Checks run in process on a host root, as `gpudoctor --json --root` runs them (every check,
in registry order, with `requires` and `applies`), without a subprocess per report.

For the per-check tests in tests/checks/: they judge one check's Result (finding ids, status,
fixes, commands); the CLI suites keep the end-to-end path honest."""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

from gpudoctor import registry
from gpudoctor.facts import Facts, Options
from gpudoctor.host import open_host
from gpudoctor.plugin import Result
from gpudoctor.report import Doctor


@cache
def _registry() -> registry.Registry:
    return registry.load()


def diagnose(root: str | Path, **options: Any) -> tuple[Facts, dict[str, Result]]:
    """The run's Facts (engines, run arguments) and every check's Result on `root`, by check
    id (Options fields as keywords)."""
    doctor = Doctor(open_host(str(root)), Options(**options), registry=_registry())
    outcomes = doctor.run()
    assert doctor.facts is not None
    return doctor.facts, {o.id: o.result for o in outcomes}


def results(root: str | Path, **options: Any) -> dict[str, Result]:
    """Every check's Result on `root`, by check id (Options fields as keywords)."""
    return diagnose(root, **options)[1]


def result_of(root: str | Path, check_id: str, **options: Any) -> Result:
    """One check's Result on `root`."""
    return results(root, **options)[check_id]


def verdict(result: Result) -> tuple[str, list[str]]:
    """(status, finding ids): what the per-check tests decide on."""
    return result.status.value, list(result.findings)


def run_only(root: str | Path, *check_ids: str, **options: Any) -> dict[str, Result]:
    """The Results of just these checks on `root` (and of the checks they require), by id."""
    doctor = Doctor(open_host(str(root)), Options(**options), registry=_registry())
    return {o.id: o.result for o in doctor.run(only=list(check_ids))}
