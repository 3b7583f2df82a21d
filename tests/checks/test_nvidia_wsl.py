"""nvidia.wsl in process, on WSL host roots (tests/support/nvidia_roots.wsl2): each finding on
the distribution that gives it, with its commands, and the healthy WSL2 beside them."""

from __future__ import annotations

from pathlib import Path

import pytest

from gpudoctor.plugin import Result
from tests.support import nvidia_roots as nr
from tests.support.check_roots import edit_host_json
from tests.support.check_run import run_only

ID = "nvidia.wsl"


def results(root: Path, *ids: str) -> dict[str, Result]:
    return run_only(root, ID, *ids)


def check(root: Path) -> Result:
    return results(root)[ID]


def test_wsl2_with_the_windows_driver_passes(tmp_path):
    result = check(nr.wsl2(tmp_path / "r"))
    assert (result.status.value, result.findings) == ("pass", [])
    assert result.summary == ("WSL2: the Windows driver supplies the GPU through /dev/dxg; "
                              "nvidia-smi lists 1 GPU(s)")
    assert "/usr/lib/wsl/lib/libcuda.so.1: present" in result.evidence


def test_gpu_present_passes_on_wsl2_where_no_gpu_is_on_the_pci_bus(tmp_path):
    present = results(nr.wsl2(tmp_path / "r"), "gpu.present")["gpu.present"]
    assert (present.status.value, present.findings, present.cause) == ("pass", [], None)
    assert present.summary.startswith("WSL2: the GPU is paravirtualised through /dev/dxg")


def test_wsl2_whose_nvidia_smi_was_not_recorded_passes_without_a_count(tmp_path):
    root = nr.wsl2(tmp_path / "r")
    edit_host_json(root, lambda doc: doc["commands"].pop("nvidia-smi-L"))
    result = check(root)
    assert (result.status.value, result.findings) == ("pass", [])
    assert result.summary == "WSL2: the Windows driver supplies the GPU through /dev/dxg"


def test_a_linux_host_skips(tmp_path):
    assert check(nr.build(tmp_path / "r")).status.value == "skip"


@pytest.mark.parametrize(("kwargs", "finding", "commands"), [
    ({"wsl1": True}, "wsl1", ["wsl --set-version <distribution> 2"]),
    ({"dxg": False}, "no_dxg", ["wsl --update", "wsl --shutdown"]),
    ({"windows_libs": False}, "no_windows_driver", ["wsl --shutdown"]),
], ids=["wsl1", "no_dxg", "no_windows_driver"])
def test_wsl_without_a_usable_gpu_fails(tmp_path, kwargs, finding, commands):
    got = results(nr.wsl2(tmp_path / "r", **kwargs), "gpu.present")
    result = got[ID]
    assert (result.status.value, result.findings) == ("fail", [f"nvidia.wsl.{finding}"])
    assert result.commands == commands
    if finding != "no_windows_driver":  # /dev/dxg is there: gpu.present passes on its own
        assert got["gpu.present"].status.value == "fail"
        assert got["gpu.present"].findings == ["gpu.present.wsl_no_gpu"]
        assert got["gpu.present"].cause == ID
        assert "no AMD, NVIDIA or Intel GPU" not in got["gpu.present"].summary


def test_missing_windows_libraries_are_named(tmp_path):
    result = check(nr.wsl2(tmp_path / "r", windows_libs=False))
    assert result.summary.startswith("/usr/lib/wsl/lib lacks libcuda.so.1, libnvidia-ml.so.1")


def test_a_linux_driver_inside_wsl_is_purged_by_package(tmp_path):
    result = check(nr.wsl2(tmp_path / "r", linux_driver=True))
    assert (result.status.value, result.findings) == (
        "fail", ["nvidia.wsl.linux_driver_installed"])
    assert result.commands == ["sudo apt-get purge nvidia-driver-550 libnvidia-compute-550",
                               "sudo ldconfig"]


def test_linux_driver_libraries_without_a_package_are_named_for_removal(tmp_path):
    root = nr.wsl2(tmp_path / "r", linux_driver=True)
    status = root / "var/lib/dpkg/status"
    status.write_text("\n\n".join(p for p in status.read_text().split("\n\n")
                                  if "nvidia-driver" not in p and "libnvidia-compute" not in p))
    result = check(root)
    assert (result.status.value, result.findings) == (
        "fail", ["nvidia.wsl.linux_driver_installed"])
    assert result.commands == ["sudo ldconfig"]
    assert "Remove the driver's libraries listed above" in result.remedy
    assert any(e.startswith("Linux driver inside WSL: library ") for e in result.evidence)


def test_nvidia_smi_failing_under_wsl2_is_a_warning(tmp_path):
    root = nr.wsl2(tmp_path / "r")

    def fail(doc: dict) -> None:
        doc["commands"]["nvidia-smi-L"].update(
            returncode=9, stdout="NVIDIA-SMI has failed because it couldn't communicate with "
            "the NVIDIA driver.\n")
    edit_host_json(root, fail)
    result = check(root)
    assert (result.status.value, result.findings) == ("warn", ["nvidia.wsl.nvidia_smi_fails"])
    assert result.commands == ["wsl --shutdown"]
