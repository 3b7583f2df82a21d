"""nvidia.gpu_count in process: GPUs the driver dropped and GPUs nvidia-smi cannot see are
named; a failure whose root cause another check says points there; GPUs reserved for virtual
machines or excluded from NVML on purpose are no alarm."""

from __future__ import annotations

from pathlib import Path

from gpudoctor.plugin import Result
from tests.support import nvidia_roots as nr
from tests.support.check_roots import edit_host_json
from tests.support.check_run import run_only

ID = "nvidia.gpu_count"
JOURNAL = "sudo journalctl -k -b | grep -i NVRM"


def check(root: Path) -> Result:
    return run_only(root, ID)[ID]


def test_the_healthy_hgx_host_passes_with_three_counts(tmp_path):
    result = check(nr.build(tmp_path / "r"))
    assert (result.status.value, result.findings) == ("pass", [])
    assert result.summary == ("8 NVIDIA GPU(s) on the PCI bus, 8 initialised by the driver, 8 "
                              "listed by nvidia-smi")


def test_without_nvidia_smi_recorded_two_counts_pass(tmp_path):
    root = nr.build(tmp_path / "r")
    edit_host_json(root, lambda doc: doc["commands"].pop("nvidia-smi-L"))
    result = check(root)
    assert (result.status.value, result.findings) == ("pass", [])
    assert result.summary == "8 NVIDIA GPU(s) on the PCI bus, 8 initialised by the driver"


def test_a_gpu_the_driver_dropped_is_named(tmp_path):
    result = check(nr.build(tmp_path / "r", nr.Spec(dropped=(0xDB,))))
    assert (result.status.value, result.findings) == ("fail", [f"{ID}.driver_dropped"])
    assert result.summary == "the driver dropped 1 of 8 NVIDIA GPU(s): 0000:db:00.0"
    assert result.commands == [JOURNAL]


def test_a_gpu_nvidia_smi_cannot_see_is_named(tmp_path):
    result = check(nr.build(tmp_path / "r", nr.Spec(smi_skip=(0xBA,))))
    assert (result.status.value, result.findings) == ("fail", [f"{ID}.nvidia_smi_missing"])
    assert result.summary == ("nvidia-smi does not list 1 GPU(s) the driver initialised: "
                              "0000:ba:00.0")
    assert result.commands == [JOURNAL]


def test_a_gpu_the_admin_excluded_from_nvml_is_no_alarm(tmp_path):
    result = check(nr.build(tmp_path / "r", nr.Spec(smi_skip=(0xBA,), extra=[nr.excluded_ba])))
    assert (result.status.value, result.findings) == ("pass", [])
    assert ("excluded from NVML on purpose (GPU Excluded: Yes, NVreg_ExcludedGpus): "
            "0000:ba:00.0") in result.evidence


def test_nvidia_smi_failing_on_its_own_names_the_gpu_it_cannot_reach(tmp_path):
    error = "Unable to determine the device handle for GPU0000:18:00.0: Unknown Error"
    result = check(nr.build(tmp_path / "r", nr.Spec(smi_error=error)))
    assert (result.status.value, result.findings) == ("fail", [f"{ID}.nvidia_smi_fails"])
    assert result.summary == f"nvidia-smi fails: {error}"
    assert "nvidia-smi cannot reach: 0000:18:00.0" in result.evidence
    assert result.commands == [JOURNAL]


def test_a_version_mismatch_points_at_nvidia_driver_mismatch(tmp_path):
    result = check(nr.build(tmp_path / "r", nr.mismatch_spec()))
    assert (result.status.value, result.findings) == ("fail", [f"{ID}.see_cause"])
    assert result.cause == "nvidia.driver_mismatch"
    assert result.summary == "not every NVIDIA GPU is usable: see nvidia.driver_mismatch"


def test_blackwell_refused_by_the_module_points_at_nvidia_open_modules(tmp_path):
    result = check(nr.build(tmp_path / "r", nr.blackwell_spec(open_module=False)))
    assert (result.status.value, result.findings) == ("fail", [f"{ID}.see_cause"])
    assert result.cause == "nvidia.open_modules"


def test_gpus_reserved_for_virtual_machines_are_not_counted(tmp_path):
    spec = nr.blackwell_spec(open_module=False)
    spec.unbound, spec.vfio = (), nr.HGX_BUSES[:2]
    spec.kernel_log, spec.smi_error = nr.BENIGN_LOG, None
    result = check(nr.build(tmp_path / "r", spec))
    assert (result.status.value, result.findings) == ("pass", [])
    assert ("reserved for virtual machines (vfio-pci), not counted: 18:00.0, 2a:00.0"
            in result.evidence)


def test_a_host_without_the_nvidia_module_skips(tmp_path):
    from tests.support import scenarios as sc

    assert check(sc.build("nvidia_nouveau", tmp_path / "r")).status.value == "skip"
