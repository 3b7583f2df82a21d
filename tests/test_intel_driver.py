"""intel.driver and the Intel run arguments: i915 or xe per GPU, force_probe from the kernel log,
Battlemage on i915, a kernel too old for the GPU, and the Arc card selected beside the iGPU.

Roots: tests/support/amd_intel_roots.py, laid out as i915 and xe lay out sysfs.
"""

from __future__ import annotations

from tests.support import amd_intel_roots as roots
from tests.support import scenarios as sc
from tests.support.cli import check_of, report_for, run_gpudoctor
from tests.support.hostroot import HostRootBuilder
from tests.test_snapshot_roots import snapshot


def test_arc_card_beside_the_igpu_is_selected_and_quiet(tmp_path):
    report = report_for(roots.intel_arc_b580_igpu(tmp_path / "root"))
    gpus = {g["pci"]: g for g in report["gpus"]}
    assert gpus["0000:00:02.0"]["integrated"] and not gpus["0000:00:02.0"]["selected"]
    assert gpus["0000:03:00.0"]["selected"] and gpus["0000:03:00.0"]["driver"] == "xe"
    assert report["docker_run_args"] == ["--device=/dev/dri/renderD129", "--group-add=993"]
    check = check_of(report, "intel.driver")
    assert check["status"] == "pass"
    assert check["summary"].startswith("03:00.0 (Arc Battlemage (BMG)) on xe")
    for other in ("kernel.driver", "kernel.amd_intel_log", "devices.nodes", "groups.render",
                  "pciids.fresh"):
        assert check_of(report, other)["status"] == "pass", other


def test_include_integrated_adds_the_igpu_render_node(tmp_path):
    report = report_for(roots.intel_arc_b580_igpu(tmp_path / "root"), "--include-integrated")
    assert report["docker_run_args"] == ["--device=/dev/dri/renderD128",
                                         "--device=/dev/dri/renderD129", "--group-add=993"]


def test_battlemage_on_i915_fails_with_the_xe_remedy(tmp_path):
    report = report_for(roots.intel_battlemage_on_i915(tmp_path / "root"))
    check = check_of(report, "intel.driver")
    assert check["status"] == "fail"
    assert check["findings"] == ["intel.driver.battlemage_on_i915"]
    assert "bound to i915, which does not support it" in check["summary"]
    assert "Boot a kernel 6.12 or newer" in check["remedy"]
    assert "i915.force_probe=!e20b xe.force_probe=e20b" in check["remedy"]
    assert check["commands"] == ["sudo apt remove intel-i915-dkms"]


def test_alchemist_refused_for_want_of_force_probe(tmp_path):
    report = report_for(roots.intel_alchemist_force_probe(tmp_path / "root"))
    check = check_of(report, "intel.driver")
    assert check["status"] == "fail"
    assert check["findings"] == ["intel.driver.force_probe_needed"]
    assert "From Linux 6.2 it binds without force_probe" in check["details"]
    assert "i915.force_probe=56a0" in check["remedy"]
    assert any("Your graphics device 56a0 is not properly supported" in e
               for e in check["evidence"])
    assert report["docker_run_args"] == []


def test_xe_refusing_battlemage_before_6_12(tmp_path):
    report = report_for(roots.intel_battlemage_xe_force_probe(tmp_path / "root"))
    check = check_of(report, "intel.driver")
    assert check["status"] == "fail"
    assert check["findings"] == ["intel.driver.force_probe_needed"]
    assert check["summary"].startswith("xe refused 03:00.0")
    assert "From Linux 6.12 it binds without force_probe" in check["details"]
    assert "i915.force_probe=!e20b xe.force_probe=e20b" in check["remedy"]


def _battlemage_unbound(root) -> object:
    b = HostRootBuilder(root)
    roots._intel_base(b, "6.8.0-45-generic")
    roots._arc(b, 0xE20B, None, "6.8.0-45-generic")
    roots._journal(b, ["Linux version 6.8.0-45-generic"])
    return b.finish()


def test_battlemage_with_no_driver_on_an_old_kernel(tmp_path):
    report = report_for(_battlemage_unbound(tmp_path / "root"))
    check = check_of(report, "intel.driver")
    assert check["status"] == "fail"
    assert check["findings"] == ["intel.driver.kernel_too_old"]
    assert "needs Linux 6.12 or newer (xe)" in check["details"]


def test_nvidia_laptop_with_intel_igpu_does_not_judge_the_left_out_igpu(tmp_path):
    report = report_for(sc.nvidia_laptop_intel_igpu(tmp_path / "root"))
    assert check_of(report, "intel.driver")["status"] == "skip"


def test_devices_shows_the_card_and_the_iGPU_left_out(tmp_path):
    run = run_gpudoctor("devices", "--root", roots.intel_arc_b580_igpu(tmp_path / "root"))
    assert run.returncode == 0
    assert "docker run --device=/dev/dri/renderD129 --group-add=993 IMAGE" in run.stdout
    assert "integrated GPU left out because a discrete GPU exists" in run.stdout


def test_a_snapshot_replays_the_force_probe_finding(tmp_path):
    root = roots.intel_alchemist_force_probe(tmp_path / "root")
    archive = tmp_path / "snap.tar.gz"
    snapshot(root, archive)
    assert check_of(report_for(archive), "intel.driver")["findings"] == [
        "intel.driver.force_probe_needed"]
