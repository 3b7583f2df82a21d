"""nvidia.fabric_manager in process, on the HGX roots of tests/support/nvidia_roots.py: each
Fabric Manager problem with its commands, the stale-module case pointing at
nvidia.driver_mismatch, and the healthy NVSwitch host beside them."""

from __future__ import annotations

from pathlib import Path

import pytest

from gpudoctor.plugin import Result
from tests.support import nvidia_roots as nr
from tests.support.check_roots import edit_host_json
from tests.support.check_run import run_only

ID = "nvidia.fabric_manager"
START = "sudo systemctl enable --now nvidia-fabricmanager"
RESTART = "sudo systemctl restart nvidia-fabricmanager"


def check(root: Path) -> Result:
    return run_only(root, ID)[ID]


def test_the_healthy_hgx_host_passes(tmp_path):
    result = check(nr.build(tmp_path / "r"))
    assert (result.status.value, result.findings) == ("pass", [])
    assert result.summary == ("Fabric Manager 580.95.05 is running and matches the driver; "
                              "fabric ready on 8 GPU(s)")
    assert any(e.startswith("0000:05:00.0 NVSwitch 10de:22a3 class 0x068000")
               for e in result.evidence)


def test_without_a_recorded_fabric_state_the_pass_says_no_count(tmp_path):
    root = nr.build(tmp_path / "r")
    edit_host_json(root, lambda doc: doc["commands"].pop("nvidia-smi-fabric"))
    result = check(root)
    assert (result.status.value, result.findings) == ("pass", [])
    assert result.summary == "Fabric Manager 580.95.05 is running and matches the driver"


def test_a_fabric_manager_of_unknown_version_is_not_judged_on_it(tmp_path):
    def binary(b) -> None:
        b.write("/usr/bin/nv-fabricmanager", b"\x7fELF", mode=0o755)
    result = check(nr.build(tmp_path / "r", nr.Spec(fabric_manager=None, extra=[binary])))
    assert (result.status.value, result.findings) == ("pass", [])
    assert result.summary == "Fabric Manager is running; fabric ready on 8 GPU(s)"


@pytest.mark.parametrize(("spec", "finding", "summary", "commands"), [
    (nr.Spec(fabric_manager=None), "not_installed",
     "4 NVSwitch device(s) but Fabric Manager is not installed",
     ["sudo apt install nvidia-fabricmanager-580", START]),
    (nr.Spec(fm_active="inactive"), "not_running", "the nvidia-fabricmanager service is inactive",
     [START, "journalctl -u nvidia-fabricmanager -b"]),
    (nr.Spec(fabric_manager="580.82.07"), "version_mismatch",
     "Fabric Manager 580.82.07 does not match the driver 580.95.05",
     ["sudo apt install nvidia-fabricmanager-580", RESTART]),
    (nr.Spec(fabric_state="In Progress"), "fabric_not_ready",
     "the NVLink fabric is not ready on 8 GPU(s): 00000000:18:00.0 (In Progress, N/A)",
     [RESTART]),
], ids=["not_installed", "not_running", "version_mismatch", "fabric_not_ready"])
def test_fabric_manager_problems(tmp_path, spec, finding, summary, commands):
    result = check(nr.build(tmp_path / "r", spec))
    assert (result.status.value, result.findings) == ("fail", [f"{ID}.{finding}"])
    assert result.summary.startswith(summary)
    assert result.commands == commands
    assert result.cause is None
    assert "error 802" in result.details


def test_fabric_manager_of_the_driver_on_disk_points_at_the_mismatch(tmp_path):
    result = check(nr.build(tmp_path / "r", nr.mismatch_spec()))
    assert (result.status.value, result.findings) == ("fail", [f"{ID}.version_mismatch"])
    assert result.cause == "nvidia.driver_mismatch"
    assert result.commands == []


def test_no_nvswitch_skips(tmp_path):
    result = check(nr.build(tmp_path / "r", nr.Spec(switches=0, fabric_manager=None)))
    assert result.status.value == "skip"


def test_wsl_skips(tmp_path):
    assert check(nr.wsl2(tmp_path / "r")).status.value == "skip"
