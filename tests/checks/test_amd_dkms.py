"""amd.dkms in process: amdgpu-dkms against the running kernel. A build missing for this
kernel (tried and failed, or never tried), with the in-tree amdgpu or none loaded; an upgrade
waiting for a reboot; the in-tree module loaded over a built one; the healthy build beside them.
Roots: tests/support/amd_intel_roots.py (`dkms-status` recorded as the live host prints it)."""

from __future__ import annotations

from pathlib import Path

import pytest

from gpudoctor.plugin import Result
from tests.support import amd_intel_roots as roots
from tests.support import scenarios as sc
from tests.support.check_roots import edit_host_json
from tests.support.check_run import run_only

ID = "amd.dkms"
VERSION = roots.DKMS_VERSION
INSTALL = f"sudo dkms install amdgpu/{VERSION} -k 6.14.0-24-generic"


def check(root: Path) -> Result:
    return run_only(root, ID)[ID]


def _unload(root: Path) -> None:
    (root / "proc/modules").write_text("")


def _never_tried(root: Path) -> None:
    (root / f"var/lib/dkms/amdgpu/{VERSION}/build/make.log").unlink()


def test_built_and_loaded_passes(tmp_path):
    result = check(roots.amd_dkms(tmp_path / "root", broken=False))
    assert (result.status.value, result.findings) == ("pass", [])
    assert result.summary == "amdgpu-dkms 6.12.12 is built for 6.8.0-45-generic and loaded"


def test_built_but_not_loaded_passes(tmp_path):
    root = roots.amd_dkms(tmp_path / "root", broken=False)
    _unload(root)
    result = check(root)
    assert (result.status.value, result.findings) == ("pass", [])
    assert result.summary == f"amdgpu-dkms {VERSION} is built for 6.8.0-45-generic"


def test_a_failed_build_for_the_running_kernel_with_the_in_tree_amdgpu(tmp_path):
    result = check(roots.amd_dkms(tmp_path / "root", broken=True))
    assert (result.status.value, result.findings) == ("warn", [f"{ID}.not_built_in_tree_loaded"])
    assert result.summary == (f"amdgpu-dkms {VERSION} is not built for 6.14.0-24-generic; "
                              "DKMS built it for 6.8.0-45-generic only; the kernel's own "
                              "amdgpu runs instead")
    evidence = "\n".join(result.evidence)
    assert "loaded: the in-tree amdgpu of 6.14.0-24-generic" in evidence
    assert f"make.log: /var/lib/dkms/amdgpu/{VERSION}/build/amd/amdkcl/" in evidence
    assert "error: implicit declaration of function" in result.details
    assert result.commands == [INSTALL]


@pytest.mark.parametrize(("change", "status", "finding"), [
    (_never_tried, "warn", "not_built_in_tree_loaded"),
    (_unload, "fail", "not_built_none_loaded"),
    (lambda root: (_unload(root), _never_tried(root)), "fail", "not_built_none_loaded"),
], ids=["never_tried", "failed_none_loaded", "never_tried_none_loaded"])
def test_the_other_ways_the_build_is_missing(tmp_path, change, status, finding):
    root = roots.amd_dkms(tmp_path / "root", broken=True)
    change(root)
    result = check(root)
    assert (result.status.value, result.findings) == (status, [f"{ID}.{finding}"])
    assert result.commands == [INSTALL]
    assert ("The last build failed" in result.details) == (change is _unload)


def test_missing_kernel_headers_come_first(tmp_path):
    root = roots.amd_dkms(tmp_path / "root", broken=True)
    (root / "lib/modules/6.14.0-24-generic/build").unlink()
    result = check(root)
    assert result.findings == [f"{ID}.not_built_in_tree_loaded"]
    assert result.commands == ["sudo apt install linux-headers-6.14.0-24-generic", INSTALL]
    assert "(after `sudo apt install linux-headers-6.14.0-24-generic`)" in result.remedy


def test_built_for_no_kernel_at_all_names_none(tmp_path):
    root = roots.amd_dkms(tmp_path / "root", broken=True)
    _unload(root)
    edit_host_json(root, lambda doc: doc["commands"]["dkms-status"].update(
        stdout=f"amdgpu/{VERSION}: added\n"))
    tree = root / f"var/lib/dkms/amdgpu/{VERSION}"
    (root / "var/lib/dkms/amdgpu/kernel-6.8.0-45-generic-x86_64").unlink()
    for path in sorted((tree / "6.8.0-45-generic").rglob("*"), reverse=True):
        path.unlink() if path.is_file() else path.rmdir()
    (tree / "6.8.0-45-generic").rmdir()
    result = check(root)
    assert (result.status.value, result.findings) == ("fail", [f"{ID}.not_built_none_loaded"])
    assert result.summary == (f"amdgpu-dkms {VERSION} is not built for 6.14.0-24-generic, and "
                              "no amdgpu is loaded")
    assert "built for (" not in result.remedy


def test_an_upgrade_without_reboot_is_seen(tmp_path):
    root = roots.amd_dkms(tmp_path / "root", broken=False)
    (root / "sys/module/amdgpu/version").write_text("6.10.5\n")
    result = check(root)
    assert (result.status.value, result.findings) == ("warn", [f"{ID}.reboot_pending"])
    assert result.summary == (f"amdgpu 6.10.5 is loaded, but amdgpu-dkms built {VERSION} for "
                              "6.8.0-45-generic")
    assert result.commands == ["sudo reboot"]


def test_the_in_tree_amdgpu_loaded_over_the_built_one(tmp_path):
    root = roots.amd_dkms(tmp_path / "root", broken=False)
    (root / "sys/module/amdgpu/version").unlink()
    result = check(root)
    assert (result.status.value, result.findings) == ("warn", [f"{ID}.in_tree_loaded"])
    assert result.commands == ["sudo update-initramfs -u -k 6.8.0-45-generic", "sudo reboot"]


def test_no_amdgpu_dkms_means_the_check_skips(tmp_path):
    assert check(sc.amd_laptop_field_guide(tmp_path / "root")).status.value == "skip"


def test_a_dkms_module_loaded_without_its_tree_is_not_called_in_tree(tmp_path):
    result = check(sc.amd_mi300x_8(tmp_path / "root"))
    assert result.status.value == "skip"
    assert result.summary.startswith("amdgpu 6.12.12 from amdgpu-dkms is loaded")
