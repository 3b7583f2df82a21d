"""Issue 12, the NVIDIA host layer: each diagnosis on its broken host root and on the healthy
one beside it (no false alarm), through real `gpudoctor --json --root` runs validated against
the shipped schema. The roots come from tests/support/nvidia_roots.py.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from tests.support import nvidia_roots as nr
from tests.support import scenarios as sc
from tests.support.cli import check_of, report_for

MINE = ("nvidia.wsl", "nvidia.open_modules", "nvidia.driver_mismatch", "nvidia.fabric_manager",
        "nvidia.gpu_count", "kernel.log", "nvidia.uvm", "nvidia.device_files")
CDI_CONFIG, NO_KMODS = nr.CDI_CONFIG, nr.NO_KMODS  # tests/test_fix_load_uvm.py imports them
XID_LOG = (*nr.BENIGN_LOG,
           "2026-02-13T09:28:40+0000 gpu-box kernel: NVRM: Xid (PCI:0000:18:00): 79, pid=2871, "
           "name=python3, GPU has fallen off the bus.",
           "2026-02-13T09:28:40+0000 gpu-box kernel: NVRM: GPU 0000:18:00.0: GPU has fallen off "
           "the bus.",
           "2026-02-13T09:29:02+0000 gpu-box kernel: NVRM: Xid (PCI:0000:18:00): 79, pid=2871, "
           "name=python3, GPU has fallen off the bus.")


def _nvidia_modprobe(b) -> None:
    b.write("/usr/bin/nvidia-modprobe", b"\x7fELF", mode=0o4755)


def _excluded_ba(b) -> None:
    info = b.root / "proc/driver/nvidia/gpus/0000:ba:00.0/information"
    info.write_text(info.read_text().replace("GPU Excluded:    No", "GPU Excluded:    Yes"))


def _cdi_spec(b) -> None:
    from tests.support.container_roots import nvidia_cdi_yaml

    b.write("/etc/cdi/nvidia.yaml", nvidia_cdi_yaml("580.95.05", 8))


ROOTS: dict[str, Callable[[Path], Path]] = {
    "healthy": lambda r: nr.build(r),
    "mismatch": lambda r: nr.build(r, nr.mismatch_spec()),
    "mismatch_blacklisted": lambda r: nr.build(r, _with(nr.mismatch_spec(),
                                                        blacklist=("nvidia-", "libnvidia-"))),
    "uvm_cdi": lambda r: nr.build(r, nr.Spec(uvm_loaded=False, uvm_node=False,
                                             toolkit_config=CDI_CONFIG,
                                             extra=[_nvidia_modprobe])),
    "uvm_no_kmods": lambda r: nr.build(r, nr.Spec(uvm_loaded=False, uvm_node=False,
                                                  toolkit_config=NO_KMODS)),
    "uvm_cdi_spec": lambda r: nr.build(r, nr.Spec(uvm_loaded=False, uvm_node=False,
                                                  extra=[_cdi_spec])),
    "uvm_on_demand": lambda r: nr.build(r, nr.Spec(uvm_loaded=False, uvm_node=False)),
    "params_video": lambda r: nr.build(r, nr.Spec(device_file_mode=432, device_file_gid=44)),
    "params_video_outsider": lambda r: nr.build(r, nr.Spec(device_file_mode=432,
                                                           device_file_gid=44,
                                                           alice_in=("docker",))),
    "blackwell_proprietary": lambda r: nr.build(r, nr.blackwell_spec(open_module=False)),
    "blackwell_vfio": lambda r: nr.build(r, _with(nr.blackwell_spec(open_module=False),
                                                  unbound=(), vfio=nr.HGX_BUSES[:2],
                                                  kernel_log=nr.BENIGN_LOG, smi_error=None)),
    "blackwell_open": lambda r: nr.build(r, nr.blackwell_spec(open_module=True)),
    "fm_missing": lambda r: nr.build(r, nr.Spec(fabric_manager=None)),
    "fm_inactive": lambda r: nr.build(r, nr.Spec(fm_active="inactive")),
    "fm_other_version": lambda r: nr.build(r, nr.Spec(fabric_manager="580.82.07")),
    "fabric_in_progress": lambda r: nr.build(r, nr.Spec(fabric_state="In Progress")),
    "no_nvswitch": lambda r: nr.build(r, nr.Spec(switches=0, fabric_manager=None)),
    "wsl2": lambda r: nr.wsl2(r),
    "wsl2_linux_driver": lambda r: nr.wsl2(r, linux_driver=True),
    "wsl2_no_dxg": lambda r: nr.wsl2(r, dxg=False),
    "wsl1": lambda r: nr.wsl2(r, wsl1=True),
    "xid": lambda r: nr.build(r, nr.Spec(kernel_log=XID_LOG)),
    "dropped": lambda r: nr.build(r, nr.Spec(dropped=(0xDB,))),
    "smi_missing": lambda r: nr.build(r, nr.Spec(smi_skip=(0xBA,))),
    "smi_excluded": lambda r: nr.build(r, nr.Spec(smi_skip=(0xBA,), extra=[_excluded_ba])),
}


def _with(spec: nr.Spec, **changes) -> nr.Spec:
    for key, value in changes.items():
        setattr(spec, key, value)
    return spec


@pytest.fixture(scope="module")
def roots(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    base = tmp_path_factory.mktemp("nvidia-roots")
    return {name: build(base / name) for name, build in ROOTS.items()}


@pytest.fixture(scope="module")
def reports(roots: dict[str, Path]) -> dict[str, dict]:
    return {name: report_for(root) for name, root in roots.items()}


def text(check: dict) -> str:
    return "\n".join([check["summary"], check["details"], check.get("remedy", ""),
                      *check.get("evidence", []), *check.get("commands", [])])


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


# ----- 1. module vs user space ---------------------------------------------------------------
def test_a_new_user_space_driver_under_an_old_module_is_a_mismatch(reports):
    check = check_of(reports["mismatch"], "nvidia.driver_mismatch")
    assert check["status"] == "fail"
    assert check["findings"] == ["nvidia.driver_mismatch.versions_differ"]
    assert check["summary"].startswith("nvidia 580.95.05 is loaded but user space is 580.105.08")
    body = text(check)
    assert "/usr/lib/x86_64-linux-gnu/libnvidia-ml.so.1 -> " \
           "/usr/lib/x86_64-linux-gnu/libnvidia-ml.so.580.105.08" in body
    assert "upgrade libnvidia-compute-580:amd64 580.95.05-0ubuntu0.22.04.1 " \
           "580.105.08-0ubuntu0.22.04.1" in body
    assert "Driver/library version mismatch" in body
    assert check["commands"][0] == "sudo reboot"
    assert check["commands"][1].startswith("sudo apt-mark hold ")
    assert "libnvidia-compute-580" in check["commands"][1]
    assert "unattended-upgrades is on (/etc/apt/apt.conf.d/20auto-upgrades" in body


def test_the_mismatch_is_said_once_and_the_others_point_to_it(reports):
    report = reports["mismatch"]
    for check_id in ("nvidia.gpu_count", "kernel.log", "nvidia.fabric_manager"):
        check = check_of(report, check_id)
        assert check["cause"] == "nvidia.driver_mismatch", (check_id, check)
    assert check_of(report, "kernel.log")["findings"] == ["kernel.log.api_mismatch"]


def test_driver_packages_kept_out_of_unattended_upgrades_get_no_hold_advice(reports):
    check = check_of(reports["mismatch_blacklisted"], "nvidia.driver_mismatch")
    assert check["status"] == "fail"
    assert check["commands"] == ["sudo reboot"]
    assert "unattended-upgrades is on" not in text(check)


# ----- 2. nvidia_uvm --------------------------------------------------------------------------
@pytest.mark.parametrize(("name", "reason"), [
    ("uvm_cdi", 'sets mode = "cdi"'), ("uvm_no_kmods", "sets load-kmods = false"),
    ("uvm_cdi_spec", "NVIDIA CDI specs exist (/etc/cdi/nvidia.yaml)")])
def test_nvidia_uvm_missing_where_nothing_loads_it_fails_with_the_fix(reports, name, reason):
    check = check_of(reports[name], "nvidia.uvm")
    assert check["status"] == "fail"
    assert check["findings"] == ["nvidia.uvm.not_loaded"]
    assert reason in check["summary"]
    assert check["fixes"] == ["nvidia.load_uvm"]
    assert check["commands"] == ["sudo nvidia-modprobe -u -c=0",
                                 "echo nvidia-uvm | sudo tee /etc/modules-load.d/nvidia-uvm.conf"]
    nodes = check_of(reports[name], "devices.nodes")
    assert nodes["status"] == "warn" and nodes["cause"] == "nvidia.uvm"


def test_nvidia_uvm_loaded_on_demand_by_the_hook_is_no_alarm(reports):
    check = check_of(reports["uvm_on_demand"], "nvidia.uvm")
    assert check["status"] == "pass"
    assert "load-kmods = true" in check["summary"]


# ----- 3. DeviceFile params -------------------------------------------------------------------
def test_device_files_restricted_to_video_name_the_group_to_add(reports):
    check = check_of(reports["params_video"], "nvidia.device_files")
    assert check["status"] == "warn"
    assert check["findings"] == ["nvidia.device_files.group_restricted"]
    assert check["summary"] == ("/dev/nvidia* are mode 0660, group video (GID 44): a non-root "
                                "container user needs `--group-add 44`")
    assert "/proc/driver/nvidia/params: DeviceFileMode: 432 (0660)" in check["evidence"]
    assert check["commands"] == ["docker run --gpus all --group-add 44 IMAGE"]
    assert "alice is in video (GID 44)" in check["evidence"]  # the scenarios' alice is
    assert "usermod" not in check["remedy"]


def test_a_person_outside_the_group_is_told_how_to_join(reports):
    check = check_of(reports["params_video_outsider"], "nvidia.device_files")
    assert check["status"] == "warn"
    assert "alice is not in video (GID 44)" in check["evidence"]
    assert "`sudo usermod -aG video alice`" in check["remedy"]


def test_default_device_file_params_pass(reports):
    check = check_of(reports["healthy"], "nvidia.device_files")
    assert check["summary"] == ("/dev/nvidia* are read-write for everyone (mode 0666), the "
                                "driver's default")


# ----- 4. open kernel modules -----------------------------------------------------------------
def test_blackwell_under_the_proprietary_module_needs_the_open_one(reports):
    report = reports["blackwell_proprietary"]
    check = check_of(report, "nvidia.open_modules")
    assert check["status"] == "fail"
    assert check["findings"] == ["nvidia.open_modules.open_required"]
    assert "NVRM version: NVIDIA UNIX x86_64 Kernel Module  570.133.20" in text(check)
    assert check["commands"] == ["sudo apt install nvidia-driver-570-open", "sudo reboot"]
    assert any("requires use of the NVIDIA open kernel modules" in e for e in check["evidence"])
    for other in ("kernel.driver", "nvidia.gpu_count", "kernel.log"):
        assert check_of(report, other)["cause"] == "nvidia.open_modules", other


def test_blackwell_under_the_open_module_is_healthy(reports):
    report = reports["blackwell_open"]
    assert status(report, "nvidia.open_modules") == "pass"
    assert status(report, "kernel.driver") == "pass"
    assert status(report, "nvidia.gpu_count") == "pass"


def test_blackwell_gpus_reserved_for_vms_are_not_blamed_on_the_module(reports):
    report = reports["blackwell_vfio"]
    assert status(report, "nvidia.open_modules") == "pass"
    count = check_of(report, "nvidia.gpu_count")
    assert count["status"] == "pass"
    assert "reserved for virtual machines (vfio-pci), not counted: 18:00.0, 2a:00.0" in (
        count["evidence"])


def test_nouveau_or_no_driver_is_not_called_an_open_module_problem(tmp_path):
    for name in ("nvidia_nouveau", "nvidia_secure_boot_blocked"):
        report = report_for(sc.build(name, tmp_path / name))
        assert status(report, "kernel.driver") == "fail"
        assert check_of(report, "kernel.driver")["cause"] is None
        assert status(report, "nvidia.open_modules") == "skip"


# ----- 5. Fabric Manager ----------------------------------------------------------------------
@pytest.mark.parametrize(("name", "finding", "summary"), [
    ("fm_missing", "not_installed", "4 NVSwitch device(s) but Fabric Manager is not installed"),
    ("fm_inactive", "not_running", "the nvidia-fabricmanager service is inactive"),
    ("fm_other_version", "version_mismatch",
     "Fabric Manager 580.82.07 does not match the driver 580.95.05"),
    ("fabric_in_progress", "fabric_not_ready", "the NVLink fabric is not ready on 8 GPU(s)"),
])
def test_fabric_manager_problems(reports, name, finding, summary):
    check = check_of(reports[name], "nvidia.fabric_manager")
    assert check["status"] == "fail"
    assert f"nvidia.fabric_manager.{finding}" in check["findings"]
    assert check["summary"].startswith(summary)
    assert "error 802" in check["details"]


def test_fabric_manager_missing_names_the_package_of_the_driver_branch(reports):
    check = check_of(reports["fm_missing"], "nvidia.fabric_manager")
    assert check["commands"] == ["sudo apt install nvidia-fabricmanager-580",
                                 "sudo systemctl enable --now nvidia-fabricmanager"]


def test_no_nvswitch_no_fabric_manager_check(reports):
    assert status(reports["no_nvswitch"], "nvidia.fabric_manager") == "skip"


# ----- 6. WSL2 --------------------------------------------------------------------------------
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


def test_a_linux_driver_inside_wsl_breaks_it(reports):
    check = check_of(reports["wsl2_linux_driver"], "nvidia.wsl")
    assert check["status"] == "fail"
    assert check["findings"] == ["nvidia.wsl.linux_driver_installed"]
    assert check["commands"] == ["sudo apt-get purge nvidia-driver-550 libnvidia-compute-550",
                                 "sudo ldconfig"]


@pytest.mark.parametrize(("name", "finding"), [("wsl2_no_dxg", "no_dxg"), ("wsl1", "wsl1")])
def test_wsl_without_a_gpu_says_why_once(reports, name, finding):
    report = reports[name]
    assert check_of(report, "nvidia.wsl")["findings"] == [f"nvidia.wsl.{finding}"]
    present = check_of(report, "gpu.present")
    assert present["status"] == "fail" and present["cause"] == "nvidia.wsl"
    assert "no AMD, NVIDIA or Intel GPU" not in present["summary"]


# ----- 7. kernel log --------------------------------------------------------------------------
def test_xid_and_fallen_off_the_bus_are_counted_with_the_last_line(reports):
    check = check_of(reports["xid"], "kernel.log")
    assert check["status"] == "warn"
    assert check["findings"] == ["kernel.log.xid", "kernel.log.fallen_off_bus"]
    assert check["summary"].startswith("2 x NVRM Xid errors (the driver's GPU error reports) "
                                       "(Xid 79 on PCI:0000:18:00: 2x)")
    assert ("NVRM Xid errors (the driver's GPU error reports): 2 line(s); last: "
            + XID_LOG[-1]) in check["evidence"]
    assert check["evidence"][0] == "8 kernel log lines of this boot, from journalctl-kernel"


def test_a_root_without_a_kernel_log_skips(tmp_path):
    report = report_for(sc.build("server_8gpu_bmc", tmp_path / "r"))
    assert check_of(report, "kernel.log")["summary"] == (
        "the kernel log was not recorded (neither journalctl-kernel nor dmesg)")


# ----- 8. counts ------------------------------------------------------------------------------
def test_a_gpu_the_driver_dropped_is_named(reports):
    check = check_of(reports["dropped"], "nvidia.gpu_count")
    assert check["status"] == "fail"
    assert check["findings"] == ["nvidia.gpu_count.driver_dropped"]
    assert check["summary"] == "the driver dropped 1 of 8 NVIDIA GPU(s): 0000:db:00.0"


def test_a_gpu_nvidia_smi_cannot_see_is_named(reports):
    check = check_of(reports["smi_missing"], "nvidia.gpu_count")
    assert check["status"] == "fail"
    assert check["findings"] == ["nvidia.gpu_count.nvidia_smi_missing"]
    assert check["summary"] == ("nvidia-smi does not list 1 GPU(s) the driver initialised: "
                                "0000:ba:00.0")


def test_a_gpu_the_admin_excluded_from_nvml_is_no_alarm(reports):
    check = check_of(reports["smi_excluded"], "nvidia.gpu_count")
    assert check["status"] == "pass"
    assert ("excluded from NVML on purpose (GPU Excluded: Yes, NVreg_ExcludedGpus): "
            "0000:ba:00.0") in check["evidence"]


def test_the_text_report_counts_nvswitches_apart(roots):
    from tests.support.cli import run_gpudoctor

    run = run_gpudoctor("--root", roots["healthy"])
    assert "  GPUs: 8 GPUs found, 8 selected for containers; 4 NVSwitches (not GPUs)" in (
        run.stdout.splitlines())
