"""The NVIDIA container layer (issue 13) on host roots, run as a person runs gpudoctor: the run
arguments, checks that agree with each other, snapshots, and a few sentences end to end. Each
check's findings are tested in process in tests/checks/test_nvidia_*.py.

These run on host roots because this machine cannot be these hosts: Docker 20.10 here has no
CDI and no systemd to run dockerd with the systemd cgroup driver, and there is no GPU. The
Engine API answers are written as Docker 28 gives them (tests/support/nvidia_layer_roots.py).
Every broken host has a healthy neighbour that must stay quiet.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support import nvidia_layer_roots as nr
from tests.support.cli import check_of, report_for, run_gpudoctor


# ----- 1. NVML "Unknown Error" exposure --------------------------------------------------------
@pytest.mark.parametrize(("cdi_spec", "args"), [(False, ["--gpus=all"]),
                                               (True, ["--device=nvidia.com/gpu=all"])])
def test_where_cdi_works_the_run_args_move_to_cdi(tmp_path: Path, cdi_spec: bool,
                                                  args: list[str]) -> None:
    """An exposed host (systemd driver, legacy hook, no /dev/char links): `--gpus` stays the
    way without a CDI spec, and CDI comes first where it works."""
    report = report_for(nr.legacy_systemd_exposed(tmp_path / "root", cdi_spec=cdi_spec))
    assert report["docker_run_args"] == args
    check = check_of(report, "nvidia.cgroup_devices")
    assert check["status"] == "warn"
    assert "nvidia.cgroup_devices.legacy_systemd" in check["findings"]
    assert "Failed to initialize NVML: Unknown Error" in check["details"]


def test_cdi_mode_host_with_systemd_driver_gets_cdi_args(tmp_path: Path) -> None:
    report = report_for(nr.cdi_mode_systemd(tmp_path / "root"))
    assert report["docker_run_args"] == ["--device=nvidia.com/gpu=all"]
    assert check_of(report, "nvidia.cdi_mode")["summary"].startswith(
        "the toolkit injects in cdi mode")
    assert check_of(report, "nvidia.toolkit_config")["status"] == "pass"


# ----- 3. configuration that cannot work -------------------------------------------------------
def test_cdi_mode_with_gpus_containers(tmp_path: Path) -> None:
    report = report_for(nr.cdi_mode_gpus_used(tmp_path / "root"))
    containers = check_of(report, "docker.containers")
    assert any("hook refuses" in e for e in containers["evidence"]), containers
    check = check_of(report, "nvidia.toolkit_config")
    assert check["findings"] == ["nvidia.toolkit_config.cdi_mode_gpus"]
    assert "invoking the NVIDIA Container Runtime Hook directly" in check["details"]


# ----- 4. CDI done right -----------------------------------------------------------------------
def test_refresh_enabled_but_the_spec_is_for_the_old_driver(tmp_path: Path) -> None:
    report = report_for(nr.jit_cdi_1_18(tmp_path / "root", spec_driver="570.86.10"))
    check = check_of(report, "nvidia.cdi_mode")
    assert check["findings"] == ["nvidia.cdi_mode.refresh_behind"]
    assert "570.86.10 (loaded: 580.95.05)" in check["summary"]
    assert check_of(report, "docker.cdi")["status"] == "warn"  # the spec's own finding


# ----- snapshots replay the verdict ------------------------------------------------------------
def test_snapshot_of_an_exposed_host_replays_the_same_verdict(tmp_path: Path) -> None:
    root = nr.legacy_systemd_exposed(tmp_path / "root")
    before = report_for(root)
    out = tmp_path / "snap.tar.gz"
    run = run_gpudoctor("snapshot", "--root", root, "-o", out, "--json")
    assert run.returncode == 0, run.stderr
    after = report_for(out)
    for check_id in ("nvidia.cgroup_devices", "nvidia.toolkit_security", "nvidia.cdi_mode",
                     "nvidia.toolkit_config", "nvidia.cuda_requirement"):
        a, b = check_of(before, check_id), check_of(after, check_id)
        assert (a["status"], a["findings"], a["summary"]) == (
            b["status"], b["findings"], b["summary"]), check_id
    assert before["docker_run_args"] == after["docker_run_args"]

