"""kernel.driver on the issue's host roots and variants: status, and that the explanation
names what it saw.

The named scenarios come from real `gpudoctor --json --root` runs (the session's `reports`,
validated against the schema); each finding is also reached in process on the smallest variant
that gives it, beside the healthy roots that give none.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from checks.kernel_driver import KernelDriver
from gpudoctor.facts.system import parse_nvidia_version
from tests.support import scenarios as sc
from tests.support.cli import check_of
from tests.support.hostroot import HostRootBuilder
from tests.support.hw_checks import build, found, judge


# ----- kernel.driver ------------------------------------------------------------------------
def test_kernel_driver_passes_with_in_tree_amdgpu_on_the_laptop(reports):
    check = check_of(reports["amd_laptop_field_guide"], "kernel.driver")
    assert check["status"] == "pass"
    assert check["summary"] == "amdgpu is loaded and bound to 07:00.0"
    assert "/sys/bus/pci/devices/0000:07:00.0/driver -> .../drivers/amdgpu" in check["evidence"]
    assert "/proc/modules: amdgpu Live" in check["evidence"]
    assert any("in tree" in line for line in check["evidence"])


def test_kernel_driver_reports_amdgpu_dkms_version_on_mi300x(reports):
    check = check_of(reports["amd_mi300x_8"], "kernel.driver")
    assert check["status"] == "pass"
    assert check["summary"].startswith("amdgpu 6.12.12 is loaded and bound to the 8 selected GPUs")
    assert "amdgpu 6.12.12 from amdgpu-dkms (out of tree, /sys/module/amdgpu/version)" in (
        check["evidence"])
    assert "/proc/modules: amdgpu Live (OE)" in check["evidence"]


@pytest.mark.parametrize(("name", "version", "flavour"), [
    ("nvidia_laptop_intel_igpu", "550.120", "proprietary kernel module"),
    ("server_8gpu_bmc", "580.95.05", "open kernel module"),
])
def test_kernel_driver_names_the_nvidia_module_version(reports, name, version, flavour):
    check = check_of(reports[name], "kernel.driver")
    assert check["status"] == "pass"
    assert check["summary"].startswith(f"nvidia {version} is loaded and bound to")
    assert (f"nvidia kernel module {version} ({flavour}), from /sys/module/nvidia/version"
            in check["evidence"])


@pytest.mark.parametrize(("line", "version"), [
    ("NVRM version: NVIDIA UNIX x86_64 Kernel Module  535.146.02  Thu Dec 19 18:56:32 UTC 2023",
     "535.146.02"),
    ("NVRM version: NVIDIA UNIX Open Kernel Module for x86_64  580.95.05  Release Build  "
     "(dvs-builder@U22-I3-B17-02-5)  Tue Sep 23 09:55:41 UTC 2025", "580.95.05"),
    ("NVRM version: NVIDIA UNIX Open Kernel Module for aarch64  550.120  Release Build", "550.120"),
    ("GCC version:  gcc version 12.3.0", None),
])
def test_nvidia_version_is_the_driver_token_not_the_first_number(line, version):
    assert parse_nvidia_version(line) == version


def test_kernel_driver_fails_when_nouveau_holds_the_nvidia_gpu(reports):
    check = check_of(reports["nvidia_nouveau"], "kernel.driver")
    assert check["status"] == "fail"
    assert check["summary"] == ("nouveau, not nvidia, holds the NVIDIA GPU 01:00.0 "
                                "(AD102 [GeForce RTX 4090])")
    assert "/sys/bus/pci/devices/0000:01:00.0/driver -> .../drivers/nouveau" in check["evidence"]
    assert ("nvidia.ko for 6.8.0-45-generic: "
            "/lib/modules/6.8.0-45-generic/updates/dkms/nvidia.ko") in check["evidence"]
    assert "cannot run CUDA" in check["details"]
    remedy = check["remedy"]
    assert "/etc/modprobe.d/blacklist-nouveau.conf" in remedy
    assert "    blacklist nouveau\n    options nouveau modeset=0" in remedy
    assert "`sudo update-initramfs -u`" in remedy and "sudo reboot" in remedy
    assert "Install the NVIDIA driver first" not in remedy  # it is already built


def test_secure_boot_blocking_the_built_module_is_the_diagnosis(reports):
    check = check_of(reports["nvidia_secure_boot_blocked"], "kernel.driver")
    assert check["status"] == "fail"
    assert "built for this kernel but not loaded, and Secure Boot is on" in check["summary"]
    assert "Secure Boot: on (SecureBoot EFI variable = 1)" in check["evidence"]
    assert "/sys/bus/pci/devices/0000:01:00.0/driver: no such link (no driver bound)" in (
        check["evidence"])
    assert "Key was rejected by service" in check["details"]
    assert "`sudo mokutil --import /var/lib/shim-signed/mok/MOK.der`" in check["remedy"]
    assert "Enroll MOK" in check["remedy"]


def test_hardware_checks_do_not_depend_on_a_docker_capture(reports):
    """None of the hardware checks errors on any scenario (no daemon captured anywhere)."""
    for name, report in reports.items():
        for check_id in ("gpu.present", "kernel.driver", "devices.nodes", "groups.render",
                         "pciids.fresh"):
            assert check_of(report, check_id)["status"] != "error", (name, check_id)


# ----- in process: one finding id per way a GPU is left without its driver -------------------
@pytest.mark.parametrize("name", ["amd_laptop_field_guide", "amd_mi300x_8", "server_8gpu_bmc",
                                  "nvidia_laptop_intel_igpu"])
def test_gpus_on_their_driver_have_no_finding(name, tmp_path):
    result = judge(KernelDriver, sc.build(name, tmp_path / "root"))
    assert found(result) == ("pass", [])
    assert result.commands == [] and result.cause is None


def test_the_version_comes_from_proc_when_sysfs_has_none(tmp_path):
    def after(root: Path) -> None:
        (root / "sys/module/nvidia/version").unlink()
    result = judge(KernelDriver, build(tmp_path / "root", "nvidia_laptop_intel_igpu",
                                       after=after))
    assert found(result) == ("pass", [])
    assert ("nvidia kernel module 550.120 (proprietary kernel module), from "
            "/proc/driver/nvidia/version") in result.evidence


def test_nouveau_holding_the_gpu_with_nvidia_built_is_not_bound(tmp_path):
    result = judge(KernelDriver, sc.build("nvidia_nouveau", tmp_path / "root"))
    assert found(result) == ("fail", ["kernel.driver.not_bound"])
    assert result.commands == [
        "printf 'blacklist nouveau\\noptions nouveau modeset=0\\n' | sudo tee "
        "/etc/modprobe.d/blacklist-nouveau.conf",
        "sudo update-initramfs -u", "sudo reboot", "lspci -k -s 01:00.0"]


def _blacklist_nouveau(b: HostRootBuilder) -> None:
    b.write("/etc/modprobe.d/blacklist-nouveau.conf", "blacklist nouveau\n")


def _no_nvidia_ko(b: HostRootBuilder) -> None:
    for path in (b.root / "lib/modules").rglob("nvidia*.ko"):
        path.unlink()


def test_nouveau_already_blacklisted_points_at_the_initramfs(tmp_path):
    result = judge(KernelDriver, build(tmp_path / "root", "nvidia_nouveau", _blacklist_nouveau))
    assert found(result) == ("fail", ["kernel.driver.not_bound"])
    assert "/etc/modprobe.d/blacklist-nouveau.conf: blacklist nouveau" in result.evidence
    assert "already blacklisted" in result.remedy
    assert "Rebuild the initramfs: `sudo update-initramfs -u`" in result.remedy
    assert result.commands == ["sudo update-initramfs -u", "sudo reboot", "lspci -k -s 01:00.0"]


def test_nova_core_holding_the_gpu_without_nvidia_installed(tmp_path):
    def change(b: HostRootBuilder) -> None:
        _no_nvidia_ko(b)
        b.add_gpu("0000:01:00.0", 0x10DE, 0x2684, parent="0000:00:01.0", driver="nova_core",
                  card=None, render=None)
        b.add_module("nova_core", refcnt=0)
    result = judge(KernelDriver, build(tmp_path / "root", "nvidia_nouveau", change))
    assert found(result) == ("fail", ["kernel.driver.not_bound"])
    assert result.summary.startswith("nova_core, not nvidia, holds the NVIDIA GPU 01:00.0")
    assert "already bound to NovaCore" in result.details
    assert "blacklist nova_core" in result.remedy
    assert "Install the NVIDIA driver first: `sudo ubuntu-drivers install`" in result.remedy
    assert result.commands[0] == "sudo ubuntu-drivers install"
    assert "nvidia.ko for 6.8.0-45-generic: not found under /lib/modules" in result.evidence


def test_blacklisted_nouveau_and_no_nvidia_on_an_unknown_os_pastes_no_prose(tmp_path):
    def change(b: HostRootBuilder) -> None:
        _no_nvidia_ko(b)
        _blacklist_nouveau(b)
        b.set_os_release("Gentoo Linux", "gentoo", "2.17")
    result = judge(KernelDriver, build(tmp_path / "root", "nvidia_nouveau", change))
    assert found(result) == ("fail", ["kernel.driver.not_bound"])
    assert "`install the NVIDIA driver packaged for your distribution`" in result.remedy
    assert result.commands[0].startswith("sudo update-initramfs -u")
    assert all(not c.startswith("install ") for c in result.commands)


def test_gpu_reserved_by_vfio_is_explained(tmp_path):
    def change(b: HostRootBuilder) -> None:
        b.set_kernel("6.8.0-45-generic", "BOOT_IMAGE=/vmlinuz ro vfio-pci.ids=1002:7480")
        b.add_gpu("0000:07:00.0", 0x1002, 0x7480, parent="0000:06:00.0", driver="vfio-pci")
    result = judge(KernelDriver, build(tmp_path / "root", "amd_laptop_field_guide", change))
    assert found(result) == ("fail", ["kernel.driver.vfio"])
    assert "vfio-pci" in result.summary
    assert "/proc/cmdline: vfio-pci.ids=1002:7480" in result.evidence
    assert result.commands == ["sudo update-initramfs -u"]


def test_an_old_card_on_radeon(tmp_path):
    def change(b: HostRootBuilder) -> None:
        b.add_gpu("0000:07:00.0", 0x1002, 0x7480, parent="0000:06:00.0", driver="radeon")
    result = judge(KernelDriver, build(tmp_path / "root", "amd_laptop_field_guide", change))
    assert found(result) == ("fail", ["kernel.driver.radeon"])
    assert "amdgpu.si_support=1" in result.remedy


def test_another_driver_on_the_gpu_is_unbound_and_amdgpu_loaded(tmp_path):
    def change(b: HostRootBuilder) -> None:
        b.add_gpu("0000:07:00.0", 0x1002, 0x7480, parent="0000:06:00.0", driver="pci-stub")
    result = judge(KernelDriver, build(tmp_path / "root", "amd_laptop_field_guide", change))
    assert found(result) == ("fail", ["kernel.driver.other_driver"])
    assert result.summary.startswith("07:00.0 (Navi 33")
    assert result.summary.endswith("is bound to pci-stub, not amdgpu")
    assert result.commands == [
        "echo 0000:07:00.0 | sudo tee /sys/bus/pci/drivers/pci-stub/unbind",
        "sudo modprobe amdgpu"]


def test_a_module_still_loading(tmp_path):
    def change(b: HostRootBuilder) -> None:
        b.add_module("amdgpu", size=19718144, refcnt=0, live=False)
    result = judge(KernelDriver, build(tmp_path / "root", "amd_laptop_field_guide", change))
    assert found(result) == ("fail", ["kernel.driver.not_live"])
    assert result.summary.startswith("amdgpu on 07:00.0")
    assert result.summary.endswith("is still loading")  # /proc/modules: Loading
    assert result.commands == ["sudo dmesg | grep -i amdgpu"]


def _unbind(root: Path, bdf: str) -> None:
    """What the host looks like when no driver took the GPU: no driver link, no drm folder."""
    dev = (root / "sys/bus/pci/devices" / bdf).resolve()
    (dev / "driver").unlink()
    for sub in sorted((dev / "drm").rglob("*"), reverse=True):
        sub.unlink() if sub.is_file() or sub.is_symlink() else sub.rmdir()
    (dev / "drm").rmdir()


def _without_amdgpu(root: Path, cmdline: str = "BOOT_IMAGE=/vmlinuz ro quiet") -> None:
    (root / "proc/cmdline").write_text(cmdline + "\n")
    modules = root / "proc/modules"
    modules.write_text("".join(line + "\n" for line in modules.read_text().splitlines()
                               if not line.startswith("amdgpu ")))
    _unbind(root, "0000:07:00.0")


def test_amdgpu_loaded_but_not_driving_the_gpu(tmp_path):
    result = judge(KernelDriver, build(tmp_path / "root", "amd_laptop_field_guide",
                                       after=lambda root: _unbind(root, "0000:07:00.0")))
    assert found(result) == ("fail", ["kernel.driver.loaded_not_bound"])
    assert result.commands == ["sudo dmesg | grep -iE 'amdgpu|NVRM'"]


def test_amdgpu_not_installed_for_this_kernel(tmp_path):
    result = judge(KernelDriver, build(tmp_path / "root", "amd_laptop_field_guide",
                                       after=_without_amdgpu))
    assert found(result) == ("fail", ["kernel.driver.not_built"])
    assert result.summary.startswith("no amdgpu module exists for kernel 6.8.0-45-generic")
    assert ("amdgpu.ko for 6.8.0-45-generic: not found under /lib/modules/6.8.0-45-generic"
            in result.evidence)
    assert result.commands == ["sudo apt install linux-modules-extra-$(uname -r)",
                               "sudo dkms status", "sudo dkms autoinstall"]


def _amdgpu_built(b: HostRootBuilder) -> None:
    b.add_module_file("6.8.0-45-generic", "kernel/drivers/gpu/drm/amd/amdgpu/amdgpu.ko.zst")


def test_amdgpu_kept_out_by_nomodeset_is_pointed_out(tmp_path):
    root = build(tmp_path / "root", "amd_laptop_field_guide", _amdgpu_built,
                 lambda root: _without_amdgpu(root, "BOOT_IMAGE=/vmlinuz ro quiet nomodeset"))
    result = judge(KernelDriver, root)
    assert found(result) == ("fail", ["kernel.driver.not_loaded"])
    assert result.summary == ("amdgpu is built for this kernel but not loaded, so 07:00.0 "
                              "(Navi 33 [Radeon RX 7600/7600 XT/7600M XT/7600S/7700S / PRO "
                              "W7600]) has no driver")
    assert "/proc/cmdline: nomodeset" in result.evidence
    assert "The kernel command line has `nomodeset`." in result.details
    assert result.commands == ["sudo modprobe amdgpu"]


def test_amdgpu_blacklisted_is_pointed_out(tmp_path):
    def change(b: HostRootBuilder) -> None:
        _amdgpu_built(b)
        b.write("/etc/modprobe.d/no-amdgpu.conf", "blacklist amdgpu\n")
    result = judge(KernelDriver, build(tmp_path / "root", "amd_laptop_field_guide", change,
                                       _without_amdgpu))
    assert found(result) == ("fail", ["kernel.driver.not_loaded"])
    assert "It is blacklisted in /etc/modprobe.d/no-amdgpu.conf." in result.details


def test_built_compressed_module_without_secure_boot_says_modprobe(tmp_path):
    def change(b: HostRootBuilder) -> None:
        b.set_secure_boot(False)
        _no_nvidia_ko(b)
        b.add_module_file("6.8.0-45-generic", "kernel/nvidia-580/nvidia.ko.zst")
    result = judge(KernelDriver, build(tmp_path / "root", "nvidia_secure_boot_blocked", change))
    assert found(result) == ("fail", ["kernel.driver.not_loaded"])
    assert "Secure Boot" not in result.summary
    assert ("nvidia.ko for 6.8.0-45-generic: "
            "/lib/modules/6.8.0-45-generic/kernel/nvidia-580/nvidia.ko.zst") in result.evidence
    assert "Secure Boot: off (SecureBoot EFI variable = 0)" in result.evidence
    assert result.commands == ["sudo modprobe nvidia"]


def test_secure_boot_without_a_dkms_key_creates_one_first(tmp_path):
    result = judge(KernelDriver, sc.build("nvidia_secure_boot_blocked", tmp_path / "root"))
    assert found(result) == ("fail", ["kernel.driver.secure_boot"])
    assert result.commands == ["sudo dkms autoinstall",
                               "sudo mokutil --import /var/lib/shim-signed/mok/MOK.der",
                               "sudo reboot", "sudo modprobe nvidia"]


def test_secure_boot_remedy_uses_the_dkms_key_the_host_has(tmp_path):
    def change(b: HostRootBuilder) -> None:
        b.write("/var/lib/dkms/mok.pub", b"0\x82")
    result = judge(KernelDriver, build(tmp_path / "root", "nvidia_secure_boot_blocked", change))
    assert found(result) == ("fail", ["kernel.driver.secure_boot"])
    assert "`sudo mokutil --import /var/lib/dkms/mok.pub`" in result.remedy
    assert "does not exist" not in result.remedy
    assert result.commands[0] == "sudo mokutil --import /var/lib/dkms/mok.pub"


def test_two_gpus_on_vfio_are_one_finding_id_and_one_explanation(tmp_path):
    def change(b: HostRootBuilder) -> None:
        b.set_kernel("6.8.0-45-generic", "BOOT_IMAGE=/vmlinuz ro vfio-pci.ids=1002:744c")
        b.add_gpu("0000:03:00.0", 0x1002, 0x744C, parent="0000:02:00.0", driver="vfio-pci")
        b.add_gpu("0000:08:00.0", 0x1002, 0x744C, parent="0000:07:00.0", driver="vfio-pci")
    result = judge(KernelDriver, build(tmp_path / "root", "amd_desktop_two_7900xtx_igpu",
                                       change))
    assert found(result) == ("fail", ["kernel.driver.vfio"])
    assert result.summary.endswith("(and 1 more problem)")
    assert result.details.count("A container uses the host's kernel") == 1
    assert result.details.count("vfio-pci holds GPUs") == 1
