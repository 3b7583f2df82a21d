"""The NVIDIA container layer (issue 13) on host roots, run as a person runs gpudoctor.

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


def _check(root: Path, check_id: str) -> dict:
    return check_of(report_for(root), check_id)


# ----- 1. NVML "Unknown Error" exposure --------------------------------------------------------
def test_running_gpus_container_under_systemd_driver_is_named(tmp_path: Path) -> None:
    report = report_for(nr.legacy_systemd_exposed(tmp_path / "root"))
    check = check_of(report, "nvidia.cgroup_devices")
    assert check["status"] == "warn"
    assert check["findings"] == ["nvidia.cgroup_devices.running_exposed",
                                 "nvidia.cgroup_devices.legacy_systemd"]
    assert "trainer" in check["summary"]
    assert "old-job" not in check["summary"]  # stopped: nothing to lose until it starts
    assert "Failed to initialize NVML: Unknown Error" in check["details"]
    assert "/dev/nvidia0" in check["details"]
    assert check["fixes"] == ["nvidia.dev_char_links"]
    assert "sudo nvidia-ctk system create-dev-char-symlinks --create-all" in check["commands"]
    assert "native.cgroupdriver=cgroupfs" in check["remedy"]
    assert "recreated" in check["remedy"]
    assert any(e.startswith("Docker cgroup driver: systemd") for e in check["evidence"])
    assert any("/dev/char/195:0 missing" in e for e in check["evidence"])
    # no CDI spec: --gpus stays the way to give GPUs
    assert report["docker_run_args"] == ["--gpus=all"]


def test_where_cdi_works_the_run_args_move_to_cdi(tmp_path: Path) -> None:
    report = report_for(nr.legacy_systemd_exposed(tmp_path / "root", cdi_spec=True))
    assert report["docker_run_args"] == ["--device=nvidia.com/gpu=all"]
    check = check_of(report, "nvidia.cgroup_devices")
    # --gpus still works here, and containers made with it are still exposed
    assert "nvidia.cgroup_devices.legacy_systemd" in check["findings"]
    assert "cdi-job" not in check["summary"]


@pytest.mark.parametrize("builder", [nr.legacy_systemd_with_links, nr.legacy_cgroupfs,
                                     nr.cdi_mode_systemd, nr.jit_cdi_1_18])
def test_hosts_that_keep_their_gpus_stay_quiet(tmp_path: Path, builder) -> None:
    check = _check(builder(tmp_path / "root"), "nvidia.cgroup_devices")
    assert check["status"] == "pass", check
    assert check["findings"] == []


def test_cdi_mode_host_with_systemd_driver_gets_cdi_args(tmp_path: Path) -> None:
    report = report_for(nr.cdi_mode_systemd(tmp_path / "root"))
    assert report["docker_run_args"] == ["--device=nvidia.com/gpu=all"]
    assert check_of(report, "nvidia.cdi_mode")["summary"].startswith(
        "the toolkit injects in cdi mode")
    assert check_of(report, "nvidia.toolkit_config")["status"] == "pass"


# ----- 3. configuration that cannot work -------------------------------------------------------
def test_ldconfig_from_another_distribution(tmp_path: Path) -> None:
    check = _check(nr.ldconfig_missing(tmp_path / "root"), "nvidia.toolkit_config")
    assert check["status"] == "fail"
    assert check["findings"] == ["nvidia.toolkit_config.ldconfig_missing"]
    assert "@/sbin/ldconfig.real" in check["summary"]
    assert "ldcache error: open failed: /sbin/ldconfig.real" in check["details"]
    assert check["commands"] == [
        "sudo nvidia-ctk config --config-file=/etc/nvidia-container-runtime/config.toml "
        "--in-place --set nvidia-container-cli.ldconfig=@/sbin/ldconfig"]


def test_a_missing_ldconfig_real_is_fine_where_the_toolkit_falls_back(tmp_path: Path) -> None:
    check = _check(nr.ldconfig_missing(tmp_path / "root", version="1.17.8-1"),
                   "nvidia.toolkit_config")
    assert check["status"] == "pass", check
    assert any("falls back to /sbin/ldconfig" in e for e in check["evidence"])


def test_no_cgroups_under_a_rootful_daemon(tmp_path: Path) -> None:
    check = _check(nr.no_cgroups_rootful(tmp_path / "root"), "nvidia.toolkit_config")
    assert check["status"] == "fail"
    assert check["findings"] == ["nvidia.toolkit_config.no_cgroups_rootful"]
    assert "no-cgroups=false" in check["commands"][0]


def test_cdi_mode_with_gpus_containers(tmp_path: Path) -> None:
    report = report_for(nr.cdi_mode_gpus_used(tmp_path / "root"))
    containers = check_of(report, "docker.containers")
    assert any("hook refuses" in e for e in containers["evidence"]), containers
    check = check_of(report, "nvidia.toolkit_config")
    assert check["status"] == "warn"
    assert check["findings"] == ["nvidia.toolkit_config.cdi_mode_gpus"]
    assert "trainer" in check["summary"]
    assert "invoking the NVIDIA Container Runtime Hook directly" in check["details"]


# ----- 4. CDI done right -----------------------------------------------------------------------
def test_refresh_units_installed_but_off(tmp_path: Path) -> None:
    check = _check(nr.jit_cdi_1_18(tmp_path / "root", refresh_enabled=False), "nvidia.cdi_mode")
    assert check["status"] == "warn"
    assert check["findings"] == ["nvidia.cdi_mode.refresh_disabled"]
    assert check["fixes"] == ["nvidia.cdi_regenerate"]
    assert "systemctl enable --now nvidia-cdi-refresh.path" in check["commands"][0]


def test_refresh_enabled_but_the_spec_is_for_the_old_driver(tmp_path: Path) -> None:
    report = report_for(nr.jit_cdi_1_18(tmp_path / "root", spec_driver="570.86.10"))
    check = check_of(report, "nvidia.cdi_mode")
    assert check["findings"] == ["nvidia.cdi_mode.refresh_behind"]
    assert "570.86.10 (loaded: 580.95.05)" in check["summary"]
    assert check["commands"][0] == "sudo systemctl restart nvidia-cdi-refresh.service"
    assert check_of(report, "docker.cdi")["status"] == "warn"  # the spec's own finding


def test_mig_enabled_without_mig_devices_in_the_spec(tmp_path: Path) -> None:
    check = _check(nr.mig_without_mig_spec(tmp_path / "root"), "nvidia.cdi_mode")
    assert check["findings"] == ["nvidia.cdi_mode.mig_missing"]
    assert "GPU 0" in check["summary"]


def test_spec_0_7_with_old_containerd(tmp_path: Path) -> None:
    check = _check(nr.spec_0_7_old_containerd(tmp_path / "root"), "nvidia.cdi_mode")
    assert check["findings"] == ["nvidia.cdi_mode.spec_too_new"]
    assert "containerd 1.7.12" in check["summary"]
    assert "1.7.16" in check["details"]


# ----- 5. images that need a newer driver ------------------------------------------------------
def test_container_image_needing_newer_cuda(tmp_path: Path) -> None:
    check = _check(nr.image_needs_newer_driver(tmp_path / "root"), "nvidia.cuda_requirement")
    assert check["status"] == "warn"
    assert check["findings"] == ["nvidia.cuda_requirement.unsatisfied"]
    assert "new-cuda" in check["summary"] and "CUDA 13.1" in check["summary"]
    assert "old-cuda" not in check["summary"]  # cuda>=12.8 on a 13.0 driver is fine
    assert "unsatisfied condition: cuda>=13.1" in check["details"]
    assert "NVIDIA_DISABLE_REQUIRE" in check["remedy"]
    assert any("driver 580.95.05 in gpudoctor's driver/CUDA table" in e
               for e in check["evidence"])


def test_a_driver_newer_than_the_table_asks_nvidia_smi(tmp_path: Path) -> None:
    check = _check(nr.newer_driver_than_the_table(tmp_path / "root"), "nvidia.cuda_requirement")
    assert check["status"] == "pass", check
    assert any("13.1 (from `nvidia-smi` (its header line))" in e for e in check["evidence"])


# ----- 2. advisories, end to end --------------------------------------------------------------
@pytest.mark.parametrize(("version", "mode", "cves"), [
    ("1.16.1-1", None, "CVE-2024-0132"),       # last affected by 0132/0133
    ("1.16.1-1", "cdi", "CVE-2024-0133"),       # 0132 does not affect CDI
    ("1.17.3-1", None, "CVE-2025-23359"),       # last affected by 23359
    ("1.17.4-1", "cdi", "CVE-2025-23266"),      # CDI only before 1.17.5
    ("1.17.7-1", None, "CVE-2025-23266"),       # last affected by 23266
])
def test_affected_toolkit_is_named_with_its_fix(tmp_path: Path, version: str, mode: str | None,
                                                cves: str) -> None:
    check = _check(nr.toolkit_version(tmp_path / "root", version, mode),
                   "nvidia.toolkit_security")
    assert check["status"] == "warn"
    assert check["findings"] == ["nvidia.toolkit_security.affected"]
    assert cves in check["summary"]
    assert check["fixes"] == ["nvidia.install_toolkit"]
    if mode == "cdi" and version.startswith("1.16.1"):
        assert "CVE-2024-0132" not in check["summary"]


@pytest.mark.parametrize(("version", "mode"), [("1.17.8-1", None), ("1.17.4-1", None),
                                               ("1.18.0-1", None)])
def test_fixed_toolkit_raises_no_cve(tmp_path: Path, version: str, mode: str | None) -> None:
    check = _check(nr.toolkit_version(tmp_path / "root", version, mode),
                   "nvidia.toolkit_security")
    # (23266 affects 1.17.4 only in CDI mode; this host injects with the legacy hook)
    assert check["status"] == "pass", check
    assert check["findings"] == []
    assert "dated 2025-07-17" in check["summary"]


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


def test_a_year_after_the_table_a_report_says_it_may_be_stale(tmp_path: Path) -> None:
    import json

    root = nr.toolkit_version(tmp_path / "root", "1.17.8-1")
    host_json = root / ".gpudoctor/host.json"
    doc = json.loads(host_json.read_text())
    doc["captured_at"] = "2026-11-30T12:00:00Z"  # the table is dated 2025-07-17
    host_json.write_text(json.dumps(doc))
    check = _check(root, "nvidia.toolkit_security")
    # old data is gpudoctor's problem, not the host's: said, never a warning
    assert check["status"] == "pass"
    assert check["findings"] == []
    assert "dated 2025-07-17, more than a year ago" in check["summary"]
    assert any("CVE-2026-24260" in e for e in check["evidence"])  # known, not yet in the table
