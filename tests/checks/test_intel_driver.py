"""intel.driver in process: i915 or xe per GPU, force_probe from the kernel log, an xe-only
GPU on i915, a kernel too old for the GPU, and the healthy Arc card beside them.

Roots: tests/support/amd_intel_roots.py, laid out as i915 and xe lay out sysfs. The run
arguments, `gpudoctor devices` and the snapshot replay stay end to end in
tests/test_intel_driver.py."""

from __future__ import annotations

from pathlib import Path

from checks.intel_driver import IntelDriver
from tests.support import amd_intel_roots as roots
from tests.support import scenarios as sc
from tests.support.hostroot import HostRootBuilder
from tests.support.hw_checks import found, judge, skip_reason


def _arc_root(root: Path, device: int, driver: str | None, kernel: str,
              log: tuple[str, ...] = ()) -> Path:
    """The iGPU on i915 and an Arc card at 03:00.0 bound to `driver` (None: unbound)."""
    b = HostRootBuilder(root)
    roots._intel_base(b, kernel)
    if driver == "xe":
        b.add_module("xe", size=3514368, refcnt=12)
    roots._arc(b, device, driver, kernel)
    roots._journal(b, [f"Linux version {kernel}", *log])
    return b.finish()


def test_the_arc_card_on_xe_beside_the_igpu_passes(tmp_path):
    result = judge(IntelDriver, roots.intel_arc_b580_igpu(tmp_path / "root"))
    assert found(result) == ("pass", [])
    assert result.summary == ("03:00.0 (Arc Battlemage (BMG)) on xe, render node passed with "
                              "--device")


def test_battlemage_on_a_backported_i915_with_an_old_kernel(tmp_path):
    result = judge(IntelDriver, roots.intel_battlemage_on_i915(tmp_path / "root"))
    assert found(result) == ("fail", ["intel.driver.battlemage_on_i915"])
    assert "bound to i915, which does not support it" in result.summary
    assert "Boot a kernel 6.12 or newer" in result.remedy
    assert "i915.force_probe=!e20b xe.force_probe=e20b" in result.remedy
    assert result.commands == ["sudo apt remove intel-i915-dkms"]


def test_battlemage_on_i915_where_the_kernel_has_xe_for_it(tmp_path):
    result = judge(IntelDriver, _arc_root(tmp_path / "root", 0xE20B, "i915",
                                          "6.14.0-29-generic"))
    assert found(result) == ("fail", ["intel.driver.battlemage_on_i915"])
    assert result.remedy.startswith("Let xe drive it: remove the backported i915")
    assert result.commands == ["sudo apt remove intel-i915-dkms"]


def test_lunar_lake_on_i915_is_xe_only(tmp_path):
    b = HostRootBuilder(tmp_path / "root")
    roots._base(b, render_gid=993, kernel="6.8.0-45-generic")
    b.add_module("i915", size=4349952, refcnt=45)
    b.add_gpu("0000:00:02.0", 0x8086, 0x64A0, 0x030000, driver="i915", card=0, render=128,
              revision=0x04, boot_vga=1)
    roots._journal(b, ["Linux version 6.8.0-45-generic"])
    result = judge(IntelDriver, b.finish())
    assert found(result) == ("fail", ["intel.driver.xe_only_on_i915"])
    assert "Lunar Lake (Xe2) GPU bound to i915" in result.summary
    assert "Boot a kernel 6.11 or newer" in result.remedy


def test_alchemist_refused_by_i915_for_want_of_force_probe(tmp_path):
    result = judge(IntelDriver, roots.intel_alchemist_force_probe(tmp_path / "root"))
    assert found(result) == ("fail", ["intel.driver.force_probe_needed"])
    assert "From Linux 6.2 it binds without force_probe" in result.details
    assert "i915.force_probe=56a0" in result.remedy
    assert any("Your graphics device 56a0 is not properly supported" in e
               for e in result.evidence)


def test_xe_refusing_battlemage_before_6_12(tmp_path):
    result = judge(IntelDriver, roots.intel_battlemage_xe_force_probe(tmp_path / "root"))
    assert found(result) == ("fail", ["intel.driver.force_probe_needed"])
    assert result.summary.startswith("xe refused 03:00.0")
    assert "From Linux 6.12 it binds without force_probe" in result.details
    assert "i915.force_probe=!e20b xe.force_probe=e20b" in result.remedy


def test_xe_refusing_alchemist_has_no_kernel_to_wait_for(tmp_path):
    root = _arc_root(tmp_path / "root", 0x56A0, None, "6.8.0-45-generic", (
        "xe 0000:03:00.0: Your graphics device 56a0 is not officially supported\n"
        "                by xe driver in this kernel version. To force Xe probe,\n"
        "                use xe.force_probe='56a0' and i915.force_probe='!56a0'",))
    result = judge(IntelDriver, root)
    assert found(result) == ("fail", ["intel.driver.force_probe_needed"])
    assert "binds without force_probe" not in result.details
    assert result.remedy.startswith("Recommended: a newer kernel. Or force it:")


def test_battlemage_without_a_driver_on_an_old_kernel(tmp_path):
    result = judge(IntelDriver, _arc_root(tmp_path / "root", 0xE20B, None, "6.8.0-45-generic"))
    assert found(result) == ("fail", ["intel.driver.kernel_too_old"])
    assert "needs Linux 6.12 or newer (xe)" in result.details


def test_the_nvidia_laptop_does_not_judge_its_left_out_igpu(tmp_path):
    root = sc.nvidia_laptop_intel_igpu(tmp_path / "root")
    assert skip_reason(IntelDriver, root) == "no selected or discrete Intel GPU"
