"""Issue 12, the NVIDIA host layer end to end: the healthy hosts through real `gpudoctor --json
--root` runs validated against the shipped schema, with no false alarm from any NVIDIA host
check. The roots come from tests/support/nvidia_roots.py; each check's findings on its broken
roots are tested in process in tests/checks/test_<check>.py.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support import nvidia_roots as nr
from tests.support import scenarios as sc
from tests.support.cli import check_of, report_for

MINE = ("nvidia.wsl", "nvidia.open_modules", "nvidia.driver_mismatch", "nvidia.fabric_manager",
        "nvidia.gpu_count", "kernel.log", "nvidia.uvm", "nvidia.device_files")
CDI_CONFIG, NO_KMODS = nr.CDI_CONFIG, nr.NO_KMODS
#: every named root of nvidia_roots (tests/test_nvidia_host_snapshot.py replays the broken
#: ones); the reports here are of the healthy hosts only
ROOTS = nr.NAMED
HEALTHY = ("healthy", "blackwell_open", "wsl2")


@pytest.fixture(scope="module")
def roots(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    base = tmp_path_factory.mktemp("nvidia-roots")
    return {name: ROOTS[name](base / name) for name in HEALTHY}


@pytest.fixture(scope="module")
def reports(roots: dict[str, Path]) -> dict[str, dict]:
    return {name: report_for(root) for name, root in roots.items()}


def status(report: dict, check_id: str) -> str:
    return check_of(report, check_id)["status"]


# ----- the healthy hosts: no false alarm -----------------------------------------------------
def test_the_healthy_hgx_host_passes_every_nvidia_host_check(reports):
    report = reports["healthy"]
    assert {i: status(report, i) for i in MINE} == {
        "nvidia.wsl": "skip", "nvidia.open_modules": "pass", "nvidia.driver_mismatch": "pass",
        "nvidia.fabric_manager": "pass", "nvidia.gpu_count": "pass", "kernel.log": "pass",
        "nvidia.uvm": "pass", "nvidia.device_files": "pass"}
    assert check_of(report, "nvidia.gpu_count")["summary"] == (
        "8 NVIDIA GPU(s) on the PCI bus, 8 initialised by the driver, 8 listed by nvidia-smi")
    assert check_of(report, "nvidia.fabric_manager")["summary"] == (
        "Fabric Manager 580.95.05 is running and matches the driver; fabric ready on 8 GPU(s)")
    assert check_of(report, "nvidia.driver_mismatch")["summary"] == (
        "nvidia 580.95.05 is loaded and user space is 580.95.05 too")


def test_nvswitches_are_listed_but_never_gpus(reports):
    report = reports["healthy"]
    compute = [g for g in report["gpus"] if g["kind"] == "compute"]
    switches = [g for g in report["gpus"] if g["kind"] == "switch"]
    assert len(compute) == 8 and all(g["selected"] for g in compute)
    assert [g["pci"] for g in switches] == ["0000:05:00.0", "0000:07:00.0", "0000:09:00.0",
                                            "0000:0b:00.0"]
    assert not any(g["selected"] for g in switches)
    assert all(g["device_id"] == "0x22a3" and g["pci_class"] == "0x068000" for g in switches)
    present = check_of(report, "gpu.present")
    assert present["status"] == "pass"
    assert "4 NVSwitch(es) (05:00.0, ...): NVLink switches, not GPUs; never selected" in (
        present["evidence"])
    fm = check_of(report, "nvidia.fabric_manager")
    assert any(line.startswith("0000:05:00.0 NVSwitch 10de:22a3 class 0x068000")
               for line in fm["evidence"])


@pytest.mark.parametrize("name", list(sc.SCENARIOS))
def test_the_existing_scenarios_get_no_new_failure(tmp_path, name):
    """Roots made before these checks (no journal, no libraries recorded) stay as they were."""
    report = report_for(sc.build(name, tmp_path / name))
    for check_id in MINE:
        assert status(report, check_id) in ("pass", "skip"), (check_id, check_of(report,
                                                                                  check_id))


def test_blackwell_under_the_open_module_is_healthy(reports):
    report = reports["blackwell_open"]
    assert status(report, "nvidia.open_modules") == "pass"
    assert status(report, "kernel.driver") == "pass"
    assert status(report, "nvidia.gpu_count") == "pass"


def test_nouveau_or_no_driver_is_not_called_an_open_module_problem(tmp_path):
    for name in ("nvidia_nouveau", "nvidia_secure_boot_blocked"):
        report = report_for(sc.build(name, tmp_path / name))
        assert status(report, "kernel.driver") == "fail"
        assert check_of(report, "kernel.driver")["cause"] is None
        assert status(report, "nvidia.open_modules") == "skip"


# ----- WSL2 ----------------------------------------------------------------------------------
def test_wsl2_with_everything_right_is_judged_as_wsl2(reports):
    report = reports["wsl2"]
    assert check_of(report, "gpu.present")["status"] == "pass"
    assert check_of(report, "gpu.present")["summary"].startswith("WSL2: the GPU is "
                                                                 "paravirtualised")
    wsl = check_of(report, "nvidia.wsl")
    assert wsl["status"] == "pass"
    assert wsl["summary"] == ("WSL2: the Windows driver supplies the GPU through /dev/dxg; "
                              "nvidia-smi lists 1 GPU(s)")
    assert report["docker_run_args"] == ["--gpus=all"]
    assert status(report, "nvidia.toolkit") != "skip"
    for check_id in MINE:
        assert status(report, check_id) in ("pass", "skip")


def test_the_text_report_counts_nvswitches_apart(roots):
    from tests.support.cli import run_gpudoctor

    run = run_gpudoctor("--root", roots["healthy"])
    assert "  GPUs: 8 GPUs found, 8 selected for containers; 4 NVSwitches (not GPUs)" in (
        run.stdout.splitlines())
