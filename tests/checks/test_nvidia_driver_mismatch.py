"""nvidia.driver_mismatch in process: the module loaded before an upgrade against the libraries
on disk, with the reboot and (where unattended-upgrades would do it again) the hold commands;
matching versions give no finding."""

from __future__ import annotations

from pathlib import Path

import pytest

from gpudoctor.plugin import Result
from tests.support import nvidia_roots as nr
from tests.support import scenarios as sc
from tests.support.check_run import run_only

ID = "nvidia.driver_mismatch"


def results(root: Path, *ids: str) -> dict[str, Result]:
    return run_only(root, ID, *ids)


def check(root: Path) -> Result:
    return results(root)[ID]


def test_matching_versions_pass(tmp_path):
    result = check(nr.build(tmp_path / "r"))
    assert (result.status.value, result.findings) == ("pass", [])
    assert result.summary == "nvidia 580.95.05 is loaded and user space is 580.95.05 too"
    # unattended-upgrades covers the driver here: the pass says what an upgrade will need
    assert "needs a reboot before GPUs work again" in result.details


def test_without_unattended_upgrades_the_pass_says_no_more(tmp_path):
    result = check(nr.build(tmp_path / "r", nr.Spec(unattended=False)))
    assert (result.status.value, result.findings) == ("pass", [])
    assert "unattended-upgrades" not in result.details


def test_a_new_user_space_under_an_old_module_is_a_mismatch(tmp_path):
    got = results(nr.build(tmp_path / "r", nr.mismatch_spec()),
                  "nvidia.gpu_count", "kernel.log", "nvidia.fabric_manager")
    result = got[ID]
    assert (result.status.value, result.findings) == (
        "fail", ["nvidia.driver_mismatch.versions_differ"])
    assert result.summary.startswith("nvidia 580.95.05 is loaded but user space is 580.105.08")
    assert result.commands[0] == "sudo reboot"
    assert result.commands[1].startswith("sudo apt-mark hold ")
    assert "libnvidia-compute-580" in result.commands[1]
    assert ("/usr/lib/x86_64-linux-gnu/libnvidia-ml.so.1 -> "
            "/usr/lib/x86_64-linux-gnu/libnvidia-ml.so.580.105.08") in result.details
    assert ("dpkg.log shows the upgrade: `2026-02-13 06:25:15 upgrade libnvidia-compute-580:amd64 "
            "580.95.05-0ubuntu0.22.04.1 580.105.08-0ubuntu0.22.04.1`") in result.details
    assert any(e.startswith("unattended-upgrades is on (/etc/apt/apt.conf.d/20auto-upgrades")
               for e in result.evidence)
    for other in ("nvidia.gpu_count", "kernel.log", "nvidia.fabric_manager"):
        assert got[other].cause == ID, other


def test_packages_kept_out_of_unattended_upgrades_get_no_hold_advice(tmp_path):
    spec = nr.mismatch_spec()
    spec.blacklist = ("nvidia-", "libnvidia-")
    result = check(nr.build(tmp_path / "r", spec))
    assert (result.status.value, result.findings) == (
        "fail", ["nvidia.driver_mismatch.versions_differ"])
    assert result.commands == ["sudo reboot"]
    assert "apt-mark" not in result.remedy


def test_a_mismatch_without_a_dpkg_log_says_no_upgrade_line(tmp_path):
    spec = nr.mismatch_spec()
    spec.dpkg_log = ()
    result = check(nr.build(tmp_path / "r", spec))
    assert result.findings == ["nvidia.driver_mismatch.versions_differ"]
    assert "dpkg.log" not in result.details


def _no_user_space(root: Path) -> None:
    for lib in (root / nr.LIB.lstrip("/")).glob("lib*"):
        lib.unlink()
    status = root / "var/lib/dpkg/status"
    status.write_text("\n\n".join(p for p in status.read_text().split("\n\n")
                                  if "container" in p or "unattended" in p))


def test_a_module_without_any_user_space_driver_fails(tmp_path):
    root = nr.build(tmp_path / "r")
    _no_user_space(root)
    result = check(root)
    assert (result.status.value, result.findings) == (
        "fail", ["nvidia.driver_mismatch.no_user_space"])
    assert result.commands == ["sudo ldconfig"]
    assert "(580.95.05)" in result.remedy


def test_a_module_whose_version_cannot_be_read_is_a_warning(tmp_path):
    root = nr.build(tmp_path / "r")
    (root / "sys/module/nvidia/version").unlink()
    proc = root / "proc/driver/nvidia/version"
    proc.write_text(proc.read_text().replace("580.95.05", "").replace("  ", " "))
    result = check(root)
    assert (result.status.value, result.findings) == (
        "warn", ["nvidia.driver_mismatch.module_version_unknown"])


@pytest.mark.parametrize("name", ["server_8gpu_bmc", "nvidia_laptop_intel_igpu"])
def test_a_root_that_recorded_no_user_space_skips(tmp_path, name):
    result = check(sc.build(name, tmp_path / "r"))
    assert result.status.value == "skip", result
    assert result.summary.startswith("this host root recorded neither /etc/ld.so.conf nor "
                                     "driver packages")
