"""Checks decide with finding ids: each broken host root gives the id of what is wrong, and
the healthy root next to it gives none (in process, through Facts(RootHost(root)))."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from gpudoctor.facts import Options
from gpudoctor.host import open_host
from gpudoctor.report import Doctor
from tests.support import container_roots as cr
from tests.support import scenarios

CASES: list[tuple[str, Callable[[Path], Path], str, str, str]] = [
    ("toolkit missing", cr.toolkit_missing, "nvidia.toolkit", "fail",
     "nvidia.toolkit.not_installed"),
    ("hook after dockerd", cr.toolkit_installed_after_daemon, "nvidia.toolkit", "fail",
     "nvidia.toolkit.installed_after_dockerd"),
    ("mixed versions", cr.toolkit_versions_mismatched, "nvidia.toolkit", "fail",
     "nvidia.toolkit.versions_mixed"),
    ("trailing comma", cr.daemon_json_trailing_comma, "docker.daemon", "fail",
     "docker.daemon.config_invalid"),
    ("rootless cgroups", cr.rootless_docker, "docker.nvidia_runtime", "fail",
     "docker.nvidia_runtime.rootless_needs_no_cgroups"),
    ("stale CDI spec", cr.stale_cdi_spec, "docker.cdi", "fail", "docker.cdi.spec_stale"),
    ("desktop", cr.docker_desktop, "docker.daemon", "fail", "docker.daemon.desktop_vm"),
    ("nouveau", lambda r: scenarios.build("nvidia_nouveau", r), "kernel.driver", "fail",
     "kernel.driver.not_bound"),
    ("no GPU", lambda r: scenarios.build("vm_no_gpu", r), "gpu.present", "fail",
     "gpu.present.none"),
]


def _results(root: Path) -> dict[str, tuple[str, list[str]]]:
    doctor = Doctor(open_host(str(root)), Options())
    return {o.id: (o.result.status.value, o.result.findings) for o in doctor.run()}


@pytest.mark.parametrize(("name", "build", "check", "status", "finding"), CASES,
                         ids=[c[0] for c in CASES])
def test_the_broken_root_names_its_finding(name: str, build: Callable[[Path], Path],
                                           check: str, status: str, finding: str,
                                           tmp_path: Path) -> None:
    got_status, findings = _results(build(tmp_path / "root"))[check]
    assert got_status == status and finding in findings, (got_status, findings)


def test_the_healthy_nvidia_root_has_no_findings(tmp_path: Path) -> None:
    results = _results(cr.nvidia_all_good(tmp_path / "root"))
    assert {cid: f for cid, (_, f) in results.items() if f} == {}
