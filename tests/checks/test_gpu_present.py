"""gpu.present in process: each finding on the smallest root that reaches it, the healthy
roots beside them with none, and one sentence kept honest.

Roots: tests/support/scenarios.py (HostRootBuilder, laid out as the kernel lays out sysfs)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from checks.gpu_present import GpuPresent
from tests.support import scenarios as sc
from tests.support.hostroot import HostRootBuilder
from tests.support.hw_checks import build, found, judge


@pytest.mark.parametrize(("name", "summary"), [
    ("amd_laptop_field_guide", "2 GPUs found; 1 selected: 07:00.0 "),
    ("server_8gpu_bmc", "8 GPUs found; 8 selected: 8 x "),
    ("amd_apu_only_strix_halo", "1 GPU found; 1 selected: "),
])
def test_hosts_with_a_gpu_pass_without_findings(name, summary, tmp_path):
    result = judge(GpuPresent, sc.build(name, tmp_path / "root"))
    assert found(result) == ("pass", [])
    assert result.summary.startswith(summary)
    assert result.commands == []


def test_rocm_reasoning_only_where_an_amd_gpu_is_found(tmp_path):
    amd = judge(GpuPresent, sc.build("amd_laptop_field_guide", tmp_path / "amd"))
    assert "ROCm can crash" in amd.details
    assert "Left out: c8:00.0" in amd.details  # the Phoenix iGPU beside the card
    nvidia = judge(GpuPresent, sc.build("server_8gpu_bmc", tmp_path / "nvidia"))
    assert "ROCm" not in nvidia.details
    assert "Left out: none." in nvidia.details


def test_a_vm_with_only_a_bochs_vga_has_no_gpu(tmp_path):
    result = judge(GpuPresent, sc.build("vm_no_gpu", tmp_path / "root"))
    assert found(result) == ("fail", ["gpu.present.none"])
    assert result.commands == ["lspci -nn"]
    assert ("The PCI bus has only 1 display device of other vendors (a BMC's or a virtual "
            "machine's VGA).") in result.details


def test_a_host_without_any_display_device_has_no_gpu(tmp_path):
    b = HostRootBuilder(tmp_path / "root")
    sc._base(b, render_gid=110)
    b.add_pci_device("0000:00:00.0", 0x8086, 0x1237, 0x060000)
    result = judge(GpuPresent, b.finish())
    assert found(result) == ("fail", ["gpu.present.none"])
    assert result.details.startswith("No display or accelerator device is on the PCI bus.")


def test_choosing_only_the_bmc_selects_no_gpu(tmp_path):
    root = sc.build("server_8gpu_bmc", tmp_path / "root")
    result = judge(GpuPresent, root, gpus=["0000:03:00.0"])
    assert found(result) == ("fail", ["gpu.present.none_selected"])
    assert "--include-integrated" in result.remedy
    assert "Left out: 18:00.0" in result.details
    assert judge(GpuPresent, root, gpus=["0000:18:00.0"]).status.value == "pass"


def test_odd_sysfs_entries_are_left_out_with_a_warning(tmp_path):
    def change(b: HostRootBuilder) -> None:
        path = b.add_pci_device("0000:31:00.0", 0x1002, 0x744C, 0x030000)
        b.write(f"{path}/class", "VGA compatible\n")
    result = judge(GpuPresent, build(tmp_path / "root", "amd_laptop_field_guide", change))
    assert found(result) == ("warn", ["gpu.present.odd_sysfs"])
    assert result.summary.endswith("; 1 odd sysfs entry skipped")
    assert result.commands == ["lspci -nnk"]
    assert any("0000:31:00.0/class holds 'VGA compatible'" in e for e in result.evidence)


def test_an_unlistable_pci_bus_is_an_error(tmp_path):
    b = HostRootBuilder(tmp_path / "root")
    sc._base(b, render_gid=110)
    b.mkdir("/sys/bus/pci")
    b.symlink("/sys/bus/pci/devices", "devices")
    result = judge(GpuPresent, b.finish())
    assert found(result) == ("error", ["gpu.present.sysfs_unreadable"])
    assert result.summary == "cannot list /sys/bus/pci/devices"


def test_the_bus_listed_again_passes(tmp_path):
    """The healthy twin of the unlistable bus: same base, one GPU, a readable bus."""
    root = build(tmp_path / "root", "amd_laptop_field_guide")
    assert os.path.isdir(Path(root) / "sys/bus/pci/devices")
    assert found(judge(GpuPresent, root)) == ("pass", [])
