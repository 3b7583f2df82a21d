"""kernel.driver, devices.nodes, groups.render and pciids.fresh on the issue's host roots and
on variants of them: each check's status, and that its explanation names what it saw.

Every report comes from a real `gpudoctor --json --root` run, validated against the schema.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from gpudoctor.facts.system import parse_nvidia_version
from tests.support import scenarios as sc
from tests.support.cli import check_of, report_for
from tests.support.hostroot import HostRootBuilder


@pytest.fixture(scope="module")
def reports(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict]:
    return {name: report_for(sc.build(name, tmp_path_factory.mktemp(name)))
            for name in sc.SCENARIOS}


def variant(root: Path, name: str, change=None, after=None) -> dict:
    """Build scenario `name`, apply `change(builder)` before finish and `after(root)` after."""
    b = HostRootBuilder(root)
    sc.SCENARIOS[name](b)
    if change is not None:
        change(b)
    built = b.finish()
    if after is not None:
        after(built)
    return report_for(built)


def edit_host_json(root: Path, edit) -> None:
    path = root / ".gpudoctor/host.json"
    doc = json.loads(path.read_text())
    edit(doc)
    path.write_text(json.dumps(doc))


def text(check: dict) -> str:
    return "\n".join([check["summary"], check["details"], check.get("remedy", ""),
                      *check.get("evidence", [])])


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


def test_kernel_driver_reads_the_version_from_proc_when_sysfs_has_none(tmp_path):
    def after(root: Path) -> None:
        (root / "sys/module/nvidia/version").unlink()
    report = variant(tmp_path, "nvidia_laptop_intel_igpu", after=after)
    check = check_of(report, "kernel.driver")
    assert check["status"] == "pass"
    assert ("nvidia kernel module 550.120 (proprietary kernel module), from "
            "/proc/driver/nvidia/version") in check["evidence"]


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


def test_nouveau_already_blacklisted_points_at_the_initramfs(tmp_path):
    def change(b: HostRootBuilder) -> None:
        b.write("/etc/modprobe.d/blacklist-nouveau.conf", "blacklist nouveau\n")
    check = check_of(variant(tmp_path, "nvidia_nouveau", change), "kernel.driver")
    assert check["status"] == "fail"
    assert "/etc/modprobe.d/blacklist-nouveau.conf: blacklist nouveau" in check["evidence"]
    assert "already blacklisted" in check["remedy"]
    assert "Rebuild the initramfs: `sudo update-initramfs -u`" in check["remedy"]


def test_nova_core_holding_the_gpu_is_named_and_blacklisted(tmp_path):
    def change(b: HostRootBuilder) -> None:
        for path in (b.root / "lib/modules").rglob("nvidia*.ko"):
            path.unlink()
        b.add_gpu("0000:01:00.0", 0x10DE, 0x2684, parent="0000:00:01.0", driver="nova_core",
                  card=None, render=None)
        b.add_module("nova_core", refcnt=0)
    check = check_of(variant(tmp_path, "nvidia_nouveau", change), "kernel.driver")
    assert check["status"] == "fail"
    assert check["summary"].startswith("nova_core, not nvidia, holds the NVIDIA GPU 01:00.0")
    assert "already bound to NovaCore" in check["details"]
    assert "blacklist nova_core" in check["remedy"]
    assert "Install the NVIDIA driver first: `sudo ubuntu-drivers install`" in check["remedy"]
    assert "nvidia.ko for 6.8.0-45-generic: not found under /lib/modules" in check["evidence"]


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


def test_secure_boot_remedy_uses_the_dkms_key_the_host_has(tmp_path):
    def change(b: HostRootBuilder) -> None:
        b.write("/var/lib/dkms/mok.pub", b"0\x82")
    check = check_of(variant(tmp_path, "nvidia_secure_boot_blocked", change), "kernel.driver")
    assert "`sudo mokutil --import /var/lib/dkms/mok.pub`" in check["remedy"]
    assert "does not exist" not in check["remedy"]


def test_built_compressed_module_without_secure_boot_says_modprobe(tmp_path):
    def change(b: HostRootBuilder) -> None:
        b.set_secure_boot(False)
        for path in (b.root / "lib/modules").rglob("nvidia*.ko"):
            path.unlink()
        b.add_module_file("6.8.0-45-generic", "kernel/nvidia-580/nvidia.ko.zst")
    check = check_of(variant(tmp_path, "nvidia_secure_boot_blocked", change), "kernel.driver")
    assert check["status"] == "fail"
    assert check["summary"].startswith("nvidia is built for this kernel but not loaded")
    assert "Secure Boot" not in check["summary"]
    assert ("nvidia.ko for 6.8.0-45-generic: "
            "/lib/modules/6.8.0-45-generic/kernel/nvidia-580/nvidia.ko.zst") in check["evidence"]
    assert "Secure Boot: off (SecureBoot EFI variable = 0)" in check["evidence"]
    assert "`sudo modprobe nvidia`" in check["remedy"]


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


def test_amdgpu_not_installed_for_this_kernel(tmp_path):
    check = check_of(variant(tmp_path, "amd_laptop_field_guide", after=_without_amdgpu),
                     "kernel.driver")
    assert check["status"] == "fail"
    assert check["summary"].startswith("no amdgpu module exists for kernel 6.8.0-45-generic")
    assert ("amdgpu.ko for 6.8.0-45-generic: not found under /lib/modules/6.8.0-45-generic"
            in check["evidence"])
    assert "sudo apt install linux-modules-extra-$(uname -r)" in check["remedy"]


def test_amdgpu_kept_out_by_nomodeset_is_pointed_out(tmp_path):
    def change(b: HostRootBuilder) -> None:
        b.add_module_file("6.8.0-45-generic", "kernel/drivers/gpu/drm/amd/amdgpu/amdgpu.ko.zst")

    def after(root: Path) -> None:
        _without_amdgpu(root, "BOOT_IMAGE=/vmlinuz ro quiet nomodeset")

    check = check_of(variant(tmp_path, "amd_laptop_field_guide", change, after),
                     "kernel.driver")
    assert check["status"] == "fail"
    assert check["summary"] == ("amdgpu is built for this kernel but not loaded, so 07:00.0 "
                                "(Navi 33 [Radeon RX 7600/7600 XT/7600M XT/7600S/7700S / PRO "
                                "W7600]) has no driver")
    assert "/proc/cmdline: nomodeset" in check["evidence"]
    assert "The kernel command line has `nomodeset`." in check["details"]
    assert "`sudo modprobe amdgpu`" in check["remedy"]


def test_gpu_reserved_by_vfio_is_explained(tmp_path):
    def change(b: HostRootBuilder) -> None:
        b.set_kernel("6.8.0-45-generic", "BOOT_IMAGE=/vmlinuz ro vfio-pci.ids=1002:7480")
        b.add_gpu("0000:07:00.0", 0x1002, 0x7480, parent="0000:06:00.0", driver="vfio-pci")
    check = check_of(variant(tmp_path, "amd_laptop_field_guide", change), "kernel.driver")
    assert check["status"] == "fail"
    assert "vfio-pci" in check["summary"]
    assert "/proc/cmdline: vfio-pci.ids=1002:7480" in check["evidence"]


# ----- devices.nodes ------------------------------------------------------------------------
def test_devices_nodes_pass_on_the_laptop_with_numbers_and_owners(reports):
    check = check_of(reports["amd_laptop_field_guide"], "devices.nodes")
    assert check["status"] == "pass"
    assert check["summary"] == ("2 device files present with the right numbers: /dev/kfd, "
                                "/dev/dri/renderD128")
    assert ("/dev/kfd: crw-rw---- char 235:0, owner UID 0, group render (110)"
            in check["evidence"])
    assert ("/dev/dri/renderD128: crw-rw---- char 226:128, owner UID 0, group render (110)"
            in check["evidence"])
    assert "no NVIDIA GPU selected: /dev/nvidia* not needed" in check["evidence"]


def test_devices_nodes_checks_every_partition_render_node(reports):
    check = check_of(reports["amd_mi300x_partitioned"], "devices.nodes")
    assert check["status"] == "pass"
    assert check["summary"].startswith("65 device files present")


def test_devices_nodes_checks_nvidia_nodes_and_skips_amd_ones(reports):
    check = check_of(reports["server_8gpu_bmc"], "devices.nodes")
    assert check["status"] == "pass"
    evidence = check["evidence"]
    assert "/dev/nvidia7: crw-rw-rw- char 195:7, owner UID 0, group root (0)" in evidence
    assert "/dev/nvidiactl: crw-rw-rw- char 195:255, owner UID 0, group root (0)" in evidence
    assert "/dev/nvidia-uvm: crw-rw-rw- char 510:0, owner UID 0, group root (0)" in evidence
    assert "no AMD GPU selected: /dev/kfd and AMD render nodes not needed" in evidence


def test_devices_nodes_fail_without_the_nvidia_driver(reports):
    check = check_of(reports["nvidia_nouveau"], "devices.nodes")
    assert check["status"] == "fail"
    assert "the nvidia driver is not loaded" in check["summary"]
    assert "see kernel.driver" in check["remedy"]


def test_missing_kfd_fails_and_says_why(tmp_path):
    def after(root: Path) -> None:
        (root / "dev/kfd").unlink()
        edit_host_json(root, lambda doc: doc["device_nodes"].pop("/dev/kfd"))
    check = check_of(variant(tmp_path, "amd_laptop_field_guide", after=after), "devices.nodes")
    assert check["status"] == "fail"
    assert check["summary"] == "/dev/kfd (ROCm's compute interface) is missing"
    assert "/dev/kfd: does not exist" in check["evidence"]
    assert "error gathering device information" in check["details"]


def test_render_node_with_stale_numbers_fails(tmp_path):
    def after(root: Path) -> None:
        edit_host_json(root, lambda doc: doc["device_nodes"]["/dev/dri/renderD128"].update(
            minor=129))
    check = check_of(variant(tmp_path, "amd_laptop_field_guide", after=after), "devices.nodes")
    assert check["status"] == "fail"
    assert "/dev/dri/renderD128 (render node of 07:00.0) has minor 129, expected 128" in (
        check["summary"])
    assert "sudo udevadm trigger" in check["remedy"]


def test_kfd_with_a_wrong_major_fails(tmp_path):
    def after(root: Path) -> None:
        edit_host_json(root, lambda doc: doc["device_nodes"]["/dev/kfd"].update(major=240))
    check = check_of(variant(tmp_path, "amd_laptop_field_guide", after=after), "devices.nodes")
    assert check["status"] == "fail"
    assert "/dev/kfd (ROCm's compute interface) has major 240, expected 235" in check["summary"]


def test_missing_nvidia_uvm_with_the_driver_loaded_is_a_warning(tmp_path):
    def after(root: Path) -> None:
        (root / "dev/nvidia-uvm").unlink()
        edit_host_json(root, lambda doc: doc["device_nodes"].pop("/dev/nvidia-uvm"))
    check = check_of(variant(tmp_path, "nvidia_laptop_intel_igpu", after=after),
                     "devices.nodes")
    assert check["status"] == "warn"
    assert check["summary"] == "/dev/nvidia-uvm (CUDA unified memory) is missing"
    assert "sudo nvidia-modprobe -u -c=0" in check["remedy"]


def test_gpu_missing_from_kfd_topology_warns_rocm_will_not_see_it(tmp_path):
    def after(root: Path) -> None:
        nodes = root / "sys/devices/virtual/kfd/kfd/topology/nodes"
        for node in nodes.iterdir():
            props = node / "properties"
            if "drm_render_minor 128\n" in props.read_text():
                for sub in sorted(node.rglob("*"), reverse=True):
                    sub.unlink() if sub.is_file() else sub.rmdir()
                node.rmdir()
    check = check_of(variant(tmp_path, "amd_laptop_field_guide", after=after), "devices.nodes")
    assert check["status"] == "warn"
    assert "KFD lists no compute node for 07:00.0 (renderD128): ROCm will not see it" in (
        check["summary"])
    assert "not supported in kfd" in check["remedy"]


# ----- groups.render ------------------------------------------------------------------------
def test_groups_render_pass_names_gid_and_membership(reports):
    check = check_of(reports["amd_laptop_field_guide"], "groups.render")
    assert check["status"] == "pass"
    assert check["summary"] == ("the device files belong to render 110, read-write for the "
                                "group; alice is a member")
    assert "alice holds render (110)" in check["evidence"]
    assert any("AMD's ROCm images call GID 109 render" in line for line in check["evidence"])
    assert "--group-add=110" in check["details"]


def test_groups_render_explains_kfd_and_render_in_different_groups(reports):
    check = check_of(reports["amd_kfd_render_different_groups"], "groups.render")
    assert check["status"] == "pass"
    assert "video 44, render 105" in check["summary"]
    assert ("/dev/kfd: crw-rw---- owner UID 0, group video (GID 44): read-write for the group"
            in check["evidence"])
    assert any("each GID needs its own --group-add" in line for line in check["evidence"])
    assert ('udev rule for /dev/kfd: /etc/udev/rules.d/70-kfd.rules: SUBSYSTEM=="kfd", '
            'KERNEL=="kfd", TAG+="uaccess", GROUP="video"') in check["evidence"]
    assert "--group-add=44, --group-add=105" in check["details"]


def test_person_not_in_render_warns_and_offers_the_fix(tmp_path):
    def change(b: HostRootBuilder) -> None:
        gid, _ = b._groups["render"]
        b.add_group("render", gid, [])
        b.set_user("alice", 1000, 1000, [1000, 4, 24, 27, 30, 44, 46, 100, 988])
    check = check_of(variant(tmp_path, "amd_laptop_field_guide", change), "groups.render")
    assert check["status"] == "warn"
    assert check["fixes"] == ["groups.add_user_render"]
    assert "alice is not in render (110)" in check["summary"]
    assert "fine for containers" in check["summary"]
    assert "`sudo usermod -aG render alice`" in check["remedy"]
    assert "log out and back in" in check["remedy"]


def test_membership_not_yet_effective_is_noted_without_warning(tmp_path):
    def change(b: HostRootBuilder) -> None:
        b.set_user("alice", 1000, 1000, [1000, 4, 24, 27, 30, 44, 46, 100, 988])
    check = check_of(variant(tmp_path, "amd_laptop_field_guide", change), "groups.render")
    assert check["status"] == "pass"
    assert any("listed in render (110) in /etc/group but the session does not hold it" in line
               for line in check["evidence"])


def test_root_only_kfd_warns_with_the_udev_rule(tmp_path):
    def after(root: Path) -> None:
        edit_host_json(root, lambda doc: doc["device_nodes"]["/dev/kfd"].update(
            mode="0600", gid=0))
    report = variant(tmp_path, "amd_laptop_field_guide", after=after)
    check = check_of(report, "groups.render")
    assert check["status"] == "warn"
    assert "/dev/kfd is 0600: only root can open it" in check["summary"]
    assert 'SUBSYSTEM=="kfd", KERNEL=="kfd", GROUP="render", MODE="0660"' in check["remedy"]
    assert report["docker_run_args"] == LAPTOP_ARGS_ROOT_KFD


LAPTOP_ARGS_ROOT_KFD = ["--device=/dev/kfd", "--device=/dev/dri/renderD128", "--group-add=110"]


def test_groups_render_skips_nvidia_with_the_reason(reports):
    check = check_of(reports["server_8gpu_bmc"], "groups.render")
    assert check["status"] == "skip"
    assert "container toolkit" in check["summary"]


# ----- pciids.fresh -------------------------------------------------------------------------
def test_pciids_2023_warns_with_age_and_the_gpu_it_cannot_name(reports):
    check = check_of(reports["pciids_2023"], "pciids.fresh")
    assert check["status"] == "warn"
    assert check["fixes"] == ["pciids.update"]
    assert check["summary"] == ("/usr/share/misc/pci.ids is 2 year(s) old (2023.04.10); it does "
                                "not name 66:00.0 (1002:7550)")
    assert ("/usr/share/misc/pci.ids: Version 2023.04.10, Date 2023-04-10" in check["evidence"])
    assert "age: 1039 days on 2026-02-13 (older than 365 days)" in check["evidence"]
    assert ("0000:66:00.0 1002:7550: not in this pci.ids (lspci shows `Device 7550`)"
            in check["evidence"])
    assert "0000:07:00.0 1002:7480: Navi 33 [Radeon RX 7700S/7600S]" in check["evidence"]
    assert "`sudo update-pciids`" in check["remedy"]
    assert "never classifies" in check["details"]


def test_pciids_fresh_passes_on_a_current_file(reports):
    check = check_of(reports["amd_laptop_field_guide"], "pciids.fresh")
    assert check["status"] == "pass"
    assert check["summary"] == ("/usr/share/misc/pci.ids (2025.06.21) is 236 days old and names "
                                "every GPU found")


def test_pciids_vm_vendor_missing_everywhere_is_not_a_warning(reports):
    check = check_of(reports["vm_no_gpu"], "pciids.fresh")
    assert check["status"] == "pass"
    assert any("vendor 1234 is not in pci.ids at all" in line for line in check["evidence"])


def test_no_pciids_warns_and_offers_the_update(tmp_path):
    def after(root: Path) -> None:
        (root / "usr/share/misc/pci.ids").unlink()
    check = check_of(variant(tmp_path, "amd_laptop_field_guide", after=after), "pciids.fresh")
    assert check["status"] == "warn"
    assert check["summary"] == "no pci.ids found: lspci shows numbers instead of GPU names"
    assert "/usr/share/hwdata/pci.ids: not found" in check["evidence"]
    assert check["fixes"] == ["pciids.update"]


def test_hwdata_pciids_remedy_upgrades_the_package(tmp_path):
    def after(root: Path) -> None:
        old = root / "usr/share/misc/pci.ids"
        new = root / "usr/share/hwdata/pci.ids"
        new.parent.mkdir(parents=True)
        new.write_text(old.read_text().replace("2025.06.21", "2022.01.01")
                       .replace("2025-06-21", "2022-01-01"))
        old.unlink()
    check = check_of(variant(tmp_path, "amd_laptop_field_guide", after=after), "pciids.fresh")
    assert check["status"] == "warn"
    assert check["summary"].startswith("/usr/share/hwdata/pci.ids is 4 year(s) old")
    assert "sudo dnf upgrade hwdata" in check["remedy"]


def test_hardware_checks_do_not_depend_on_a_docker_capture(reports):
    """None of the hardware checks errors on any scenario (no daemon captured anywhere)."""
    for name, report in reports.items():
        for check_id in ("gpu.present", "kernel.driver", "devices.nodes", "groups.render",
                         "pciids.fresh"):
            assert check_of(report, check_id)["status"] != "error", (name, check_id)
