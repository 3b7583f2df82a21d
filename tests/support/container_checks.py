"""Running the checks in process on a host root, for the per-check tests of the container
stack (tests/checks/test_docker_*.py, test_nvidia_toolkit.py, test_amd_container_toolkit.py):
Doctor(open_host(root), Options()), as `gpudoctor --json --root` runs them, without a process."""

from __future__ import annotations

import os
from pathlib import Path

from gpudoctor.facts import Options
from gpudoctor.host import open_host
from gpudoctor.plugin import Result
from gpudoctor.report import Doctor


def results_of(root: str | os.PathLike) -> dict[str, Result]:
    """Every check's result on the host root, by check id."""
    doctor = Doctor(open_host(str(root)), Options())
    return {outcome.id: outcome.result for outcome in doctor.run()}


def result_of(root: str | os.PathLike, check_id: str) -> Result:
    return results_of(Path(root))[check_id]


def verdict(result: Result) -> tuple[str, list[str]]:
    """(status, finding ids): what the per-check tests assert."""
    return result.status.value, result.findings
