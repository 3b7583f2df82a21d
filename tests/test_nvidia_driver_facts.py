"""The NVIDIA driver facts read from files laid out as the driver and distributions write them:
params lines, the version line's flavour, ld.so.conf includes, config.toml's load-kmods,
APT's unattended-upgrades settings, dpkg and rpm package records."""

from __future__ import annotations

from pathlib import Path

from gpudoctor.facts import Facts, Options
from gpudoctor.facts.nvidia_driver import (
    flavour_of,
    ld_so_dirs,
    parse_params,
    read_unattended,
)
from gpudoctor.facts.nvidia_uvm import load_kmods, persisted_by
from gpudoctor.host import open_host
from tests.support import nvidia_roots as nr
from tests.support.hostroot import HostRootBuilder

PROPRIETARY = ("NVRM version: NVIDIA UNIX x86_64 Kernel Module  535.146.02  Thu Dec 19 "
               "18:56:32 UTC 2023")
OPEN = ("NVRM version: NVIDIA UNIX Open Kernel Module for x86_64  580.95.05  Release Build  "
        "(dvs-builder@U22-I3-B17-02-5)  Tue Sep 23 09:55:41 UTC 2025")


def test_the_version_line_tells_the_flavour():
    assert flavour_of(PROPRIETARY) == "proprietary"
    assert flavour_of(OPEN) == "open"
    assert flavour_of("GCC version:  gcc version 12.3.0") is None


def test_params_lines_are_read_as_the_driver_prints_them():
    params = parse_params("ModifyDeviceFiles: 1\nDeviceFileUID: 0\nDeviceFileGID: 44\n"
                          "DeviceFileMode: 432\nRegistryDwords: \"\"\n")
    assert params == {"ModifyDeviceFiles": "1", "DeviceFileUID": "0", "DeviceFileGID": "44",
                      "DeviceFileMode": "432", "RegistryDwords": ""}


def test_load_kmods_is_read_from_its_own_table_only():
    assert load_kmods('[nvidia-container-cli]\nload-kmods = false\n') is False
    assert load_kmods('[nvidia-container-cli]\n#load-kmods = false\nload-kmods = true\n') is True
    assert load_kmods('[other]\nload-kmods = false\n') is None


def _host(tmp_path: Path, build) -> Facts:
    b = HostRootBuilder(tmp_path / "r")
    b.set_kernel()
    build(b)
    return Facts(open_host(str(b.finish())), Options())


def test_ld_so_conf_includes_are_followed_in_order(tmp_path):
    def build(b):
        b.write("/etc/ld.so.conf", "include /etc/ld.so.conf.d/*.conf\n/opt/extra/lib\n")
        b.write("/etc/ld.so.conf.d/00-cuda.conf", "/usr/local/cuda/lib64  # CUDA\n")
        b.write("/etc/ld.so.conf.d/zz-nested.conf", "include nested.d/*.conf\n")
        b.write("/etc/ld.so.conf.d/nested.d/a.conf", "/opt/nested\n")
        b.write("/etc/ld.so.conf.d/readme.txt", "/not/read\n")
    dirs = ld_so_dirs(_host(tmp_path, build).host)
    assert dirs[:4] == ["/usr/local/cuda/lib64", "/opt/nested", "/opt/extra/lib", "/lib"]
    assert "/not/read" not in dirs


def test_unattended_upgrades_enabled_and_its_blacklist(tmp_path):
    def build(b):
        b.write("/var/lib/dpkg/status", "Package: unattended-upgrades\n"
                "Status: install ok installed\nVersion: 2.9.1\n")
        b.write("/etc/apt/apt.conf.d/20auto-upgrades",
                'APT::Periodic::Unattended-Upgrade "1";\n')
        b.write("/etc/apt/apt.conf.d/50unattended-upgrades", nr.UNATTENDED_50 % (
            '//\t"vim";\n\t"libnvidia-";\n\t"nvidia-driver-[0-9]+";'))
        b.write("/etc/apt/apt.conf.d/99local", '/* off for a while\n'
                'APT::Periodic::Unattended-Upgrade "0"; */\n')
    state = read_unattended(_host(tmp_path, build).host)
    assert state.enabled and state.installed
    assert state.blacklist == ["libnvidia-", "nvidia-driver-[0-9]+"]
    assert not state.covers("libnvidia-compute-580")
    assert not state.covers("nvidia-driver-580-open")
    assert state.covers("nvidia-utils-580")


def test_a_later_apt_file_turns_unattended_upgrades_off(tmp_path):
    def build(b):
        b.write("/etc/apt/apt.conf.d/20auto-upgrades",
                'APT::Periodic::Unattended-Upgrade "1";\n')
        b.write("/etc/apt/apt.conf.d/99off", 'APT::Periodic::Unattended-Upgrade "0";\n')
    state = read_unattended(_host(tmp_path, build).host)
    assert not state.enabled
    assert state.enabled_by.startswith("/etc/apt/apt.conf.d/99off")


def test_modules_load_d_in_etc_overrides_the_same_name_in_usr_lib(tmp_path):
    def build(b):
        b.write("/usr/lib/modules-load.d/nvidia.conf", "nvidia-uvm\n")
        b.write("/etc/modules-load.d/nvidia.conf", "# emptied by the admin\n")
    assert persisted_by(_host(tmp_path, build).host) is None


def test_rpm_hosts_give_their_driver_packages(tmp_path):
    def build(b):
        b.add_module("nvidia", version="570.133.20", taint="POE")
        b.add_command("rpm-nvidia-driver", ["rpm", "-qa"], "nvidia-driver-cuda-libs "
                      "570.133.20-1.el9\nnvidia-fabric-manager 570.133.20-1\n"
                      "libnvidia-container1 1.17.8-1\n")
    facts = _host(tmp_path, build)
    packages = facts.nvidia_driver.packages
    assert sorted(packages) == ["nvidia-driver-cuda-libs", "nvidia-fabric-manager"]
    assert facts.nvidia_driver.package_versions == {
        "570.133.20": ["nvidia-driver-cuda-libs 570.133.20-1.el9"]}


def test_the_gpu_operators_driver_container_counts_as_user_space(tmp_path):
    def build(b):
        b.add_module("nvidia", version="570.133.20", taint="OE")
        b.write("/etc/ld.so.conf", "include /etc/ld.so.conf.d/*.conf\n")
        lib = "/run/nvidia/driver/usr/lib/x86_64-linux-gnu"
        b.write(f"{lib}/libnvidia-ml.so.570.133.20", b"\x7fELF")
        b.symlink(f"{lib}/libnvidia-ml.so.1", "libnvidia-ml.so.570.133.20")
    libs = _host(tmp_path, build).nvidia_driver.libs
    assert [(lib.name, lib.version) for lib in libs] == [("libnvidia-ml", "570.133.20")]
