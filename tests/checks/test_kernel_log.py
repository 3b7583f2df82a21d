"""kernel.log in process: each NVIDIA driver message in this boot's kernel log is a warning
with its count and last line, pointing at the check that says the root cause where there is
one; a clean log passes and a root without a log skips."""

from __future__ import annotations

from pathlib import Path

import pytest

from gpudoctor.plugin import Result
from tests.support import nvidia_roots as nr
from tests.support import scenarios as sc
from tests.support.check_run import run_only

ID = "kernel.log"
XID_LOG = nr.XID_LOG


def check(root: Path) -> Result:
    return run_only(root, ID)[ID]


def test_a_clean_log_passes(tmp_path):
    result = check(nr.build(tmp_path / "r"))
    assert (result.status.value, result.findings) == ("pass", [])
    assert result.summary == "no NVIDIA driver errors in 5 kernel log lines"


def test_xid_and_fallen_off_the_bus_are_counted_with_the_last_line(tmp_path):
    result = check(nr.build(tmp_path / "r", nr.Spec(kernel_log=XID_LOG)))
    assert (result.status.value, result.findings) == (
        "warn", ["kernel.log.xid", "kernel.log.fallen_off_bus"])
    assert result.summary.startswith("2 x NVRM Xid errors (the driver's GPU error reports) "
                                     "(Xid 79 on PCI:0000:18:00: 2x)")
    assert ("NVRM Xid errors (the driver's GPU error reports): 2 line(s); last: "
            + XID_LOG[-1]) in result.evidence
    assert result.evidence[0] == "8 kernel log lines of this boot, from journalctl-kernel"
    assert result.cause is None


def test_an_xid_line_without_a_pci_code_is_still_an_xid(tmp_path):
    line = "2026-02-13T09:28:40+0000 gpu-box kernel: NVRM: Xid (0000:18:00): 13, Graphics Exception"
    result = check(nr.build(tmp_path / "r", nr.Spec(kernel_log=(*nr.BENIGN_LOG, line))))
    assert (result.status.value, result.findings) == ("warn", ["kernel.log.xid"])
    assert result.summary == "1 x NVRM Xid errors (the driver's GPU error reports)"


def test_an_api_mismatch_points_at_nvidia_driver_mismatch(tmp_path):
    result = check(nr.build(tmp_path / "r", nr.mismatch_spec()))
    assert (result.status.value, result.findings) == ("warn", ["kernel.log.api_mismatch"])
    assert result.cause == "nvidia.driver_mismatch"


def test_an_api_mismatch_line_after_the_reboot_is_said_on_its_own(tmp_path):
    spec = nr.Spec(kernel_log=nr.mismatch_spec().kernel_log)
    result = check(nr.build(tmp_path / "r", spec))
    assert (result.status.value, result.findings) == ("warn", ["kernel.log.api_mismatch"])
    assert result.cause is None


def test_blackwell_refused_points_at_nvidia_open_modules(tmp_path):
    result = check(nr.build(tmp_path / "r", nr.blackwell_spec(open_module=False)))
    assert (result.status.value, result.findings) == (
        "warn", ["kernel.log.open_modules_required", "kernel.log.rm_init_failed"])
    assert result.cause == "nvidia.open_modules"


@pytest.mark.parametrize("name", ["server_8gpu_bmc", "nvidia_laptop_intel_igpu"])
def test_a_root_without_a_kernel_log_skips(tmp_path, name):
    result = check(sc.build(name, tmp_path / "r"))
    assert result.status.value == "skip"
    assert result.summary == ("the kernel log was not recorded (neither journalctl-kernel nor "
                              "dmesg)")
