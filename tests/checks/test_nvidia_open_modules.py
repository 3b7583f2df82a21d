"""nvidia.open_modules in process: Blackwell under the proprietary module and pre-Turing GPUs
under the open one each give their finding with the install command of the distribution; the
right flavour, and GPUs reserved for virtual machines, give none."""

from __future__ import annotations

from pathlib import Path

import pytest

from gpudoctor.plugin import Result
from tests.support import nvidia_roots as nr
from tests.support import scenarios as sc
from tests.support.check_run import run_only

ID = "nvidia.open_modules"


def results(root: Path, *ids: str) -> dict[str, Result]:
    return run_only(root, ID, *ids)


def check(root: Path) -> Result:
    return results(root)[ID]


def _os(text: str):
    def change(b) -> None:
        b.write("/etc/os-release", text)
    return change


def test_blackwell_under_the_proprietary_module_needs_the_open_one(tmp_path):
    got = results(nr.build(tmp_path / "r", nr.blackwell_spec(open_module=False)),
                  "kernel.driver", "nvidia.gpu_count", "kernel.log")
    result = got[ID]
    assert (result.status.value, result.findings) == (
        "fail", ["nvidia.open_modules.open_required"])
    assert result.commands == ["sudo apt install nvidia-driver-570-open", "sudo reboot"]
    assert result.summary == ("18:00.0 (10de:2901), 2a:00.0 (10de:2901): needs the NVIDIA "
                              "open kernel modules, but the proprietary module is loaded")
    assert any("requires use of the NVIDIA open kernel modules" in e for e in result.evidence)
    assert any("NVIDIA UNIX x86_64 Kernel Module  570.133.20" in e for e in result.evidence)
    for other in ("kernel.driver", "nvidia.gpu_count", "kernel.log"):
        assert got[other].cause == ID, other


@pytest.mark.parametrize(("os_release", "command"), [
    ('ID=debian\nVERSION_ID="12"\n', "sudo apt install nvidia-open-kernel-dkms"),
    ('ID=fedora\nVERSION_ID=41\n', "sudo dnf install nvidia-open   # NVIDIA's CUDA repository"),
    ('ID=arch\n', "sudo sh NVIDIA-Linux-$(uname -m)-570.133.20.run -m=kernel-open"),
], ids=["debian", "fedora", "other"])
def test_the_install_command_fits_the_distribution(tmp_path, os_release, command):
    spec = nr.blackwell_spec(open_module=False)
    spec.extra.append(_os(os_release))
    assert check(nr.build(tmp_path / "r", spec)).commands == [command, "sudo reboot"]


def test_a_pre_turing_gpu_under_the_open_module_needs_the_proprietary_one(tmp_path):
    spec = nr.Spec(device_id=0x1DB4, model="Tesla V100-SXM2-16GB", buses=nr.HGX_BUSES[:2],
                   unbound=nr.HGX_BUSES[:2], switches=0, fabric_manager=None)
    result = check(nr.build(tmp_path / "r", spec))
    assert (result.status.value, result.findings) == (
        "fail", ["nvidia.open_modules.proprietary_required"])
    assert result.commands == ["sudo apt install nvidia-driver-580", "sudo reboot"]


def test_blackwell_under_the_open_module_passes(tmp_path):
    result = check(nr.build(tmp_path / "r", nr.blackwell_spec(open_module=True)))
    assert (result.status.value, result.findings) == ("pass", [])
    assert result.summary == ("the open nvidia module 570.133.20 is loaded and suits every "
                              "NVIDIA GPU here")


def test_the_healthy_hgx_host_passes(tmp_path):
    assert check(nr.build(tmp_path / "r")).findings == []


def test_blackwell_gpus_reserved_for_vms_are_not_blamed_on_the_module(tmp_path):
    spec = nr.blackwell_spec(open_module=False)
    spec.unbound, spec.vfio = (), nr.HGX_BUSES[:2]
    spec.kernel_log, spec.smi_error = nr.BENIGN_LOG, None
    result = check(nr.build(tmp_path / "r", spec))
    assert (result.status.value, result.findings) == ("pass", [])


@pytest.mark.parametrize("name", ["nvidia_nouveau", "nvidia_secure_boot_blocked"])
def test_no_nvidia_driver_loaded_skips(tmp_path, name):
    assert check(sc.build(name, tmp_path / "r")).status.value == "skip"
