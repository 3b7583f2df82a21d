"""Every host root the tests build, as a fleet: one named root per scenario.

The hardware scenarios (tests/support/scenarios.py) and the container-stack roots
(tests/support/container_roots.py) together make a fleet with healthy hosts and hosts that
fail for different causes; `write_reports` runs the real `gpudoctor --json --root` on each,
as a fleet job would, and saves HOST.json files for `gpudoctor fleet`.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from tests.support import container_roots, scenarios
from tests.support.cli import report_for

CONTAINER_ROOTS = ("nvidia_all_good", "toolkit_installed_after_daemon",
                   "toolkit_versions_mismatched", "toolkit_missing", "snap_docker_etc_edited",
                   "rootless_docker", "docker_desktop", "daemon_json_trailing_comma",
                   "stale_cdi_spec", "cdi_only", "not_captured", "amd_containers_reused")


def builders() -> dict[str, Callable[[Path], Path]]:
    """host name -> function building its root (hardware scenarios, then container roots)."""
    out: dict[str, Callable[[Path], Path]] = {}
    for name in scenarios.SCENARIOS:
        out[name] = lambda root, name=name: scenarios.build(name, root)
    for name in CONTAINER_ROOTS:
        out[f"ctr_{name}"] = getattr(container_roots, name)
    return out


def build_roots(base: Path, names: list[str] | None = None) -> dict[str, Path]:
    made = {}
    for name, build in builders().items():
        if names is None or name in names:
            made[name] = build(base / name)
    return made


def write_reports(roots: dict[str, Path], folder: Path) -> dict[str, dict]:
    """`gpudoctor --json --root R` for each root (schema-validated) into folder/NAME.json."""
    folder.mkdir(parents=True, exist_ok=True)
    reports = {}
    for name, root in roots.items():
        report = report_for(root)
        (folder / f"{name}.json").write_text(json.dumps(report, indent=2))
        reports[name] = report
    return reports
