"""kernel.amd_intel_log in process: what amdgpu, KFD, i915 and xe wrote in this boot's kernel
log (journal first, dmesg as fallback), each signal as its finding, a healthy log beside them,
and a clear skip where neither log can be read. Roots: tests/support/amd_intel_roots.py."""

from __future__ import annotations

from pathlib import Path

import pytest

from gpudoctor.plugin import Result
from tests.support import amd_intel_roots as roots
from tests.support import scenarios as sc
from tests.support.check_roots import edit_host_json
from tests.support.check_run import run_only
from tests.support.hostroot import HostRootBuilder

ID = "kernel.amd_intel_log"
KFD_REFUSED = "kfd kfd: amdgpu: GC IP 0b0500 not supported in kfd"
FIRMWARE = ("amdgpu 0000:03:00.0: Direct firmware load for amdgpu/psp_14_0_3_sos.bin failed "
            "with error -2")
FATAL = "amdgpu 0000:03:00.0: amdgpu: Fatal error during GPU init"
RING = ("amdgpu 0000:03:00.0: amdgpu: ring gfx_0.0.0 timeout, signaled seq=1234, emitted "
        "seq=1236")
RESET = "amdgpu 0000:03:00.0: amdgpu: GPU reset begin!"
HEALTHY = ["[drm] amdgpu kernel modesetting enabled.",
           "amdgpu 0000:03:00.0: amdgpu: SMU is initialized successfully!",
           "[drm] Initialized amdgpu 3.57.0 20150101 for 0000:03:00.0 on minor 0",
           "kfd kfd: amdgpu: added device 1002:744c"]


def check(root: Path) -> Result:
    return run_only(root, ID)[ID]


@pytest.mark.parametrize(("lines", "status", "findings"), [
    (HEALTHY, "pass", []),
    ([*HEALTHY, KFD_REFUSED], "fail", ["kernel.amd_intel_log.kfd_unsupported"]),
    ([FIRMWARE, FATAL], "fail", ["kernel.amd_intel_log.firmware_missing",
                                 "kernel.amd_intel_log.init_failed"]),
    ([*HEALTHY, RING, RESET, RING], "warn", ["kernel.amd_intel_log.gpu_reset"]),
], ids=["healthy", "kfd_unsupported", "firmware_and_init", "gpu_reset"])
def test_kernel_log_signals(lines, status, findings, tmp_path):
    result = check(roots.amd_kernel_log(tmp_path / "root", lines))
    assert (result.status.value, result.findings) == (status, findings)
    if findings:
        assert any(line in e for e in result.evidence for line in lines if "amdgpu:" in line
                   or "firmware" in line)


def test_gpu_resets_are_counted(tmp_path):
    result = check(roots.amd_kernel_log(tmp_path / "root", [RING, RESET, RING]))
    assert result.findings == ["kernel.amd_intel_log.gpu_reset"]
    assert result.summary == "the GPU hung and was reset during this boot (3 times)"


def test_a_single_signal_has_no_count(tmp_path):
    result = check(roots.amd_kernel_log(tmp_path / "root", [*HEALTHY, KFD_REFUSED]))
    assert result.summary == ("KFD does not support this GPU in the running kernel (`not "
                              "supported in kfd`)")


def test_firmware_remedy_is_pasteable(tmp_path):
    result = check(roots.amd_kernel_log(tmp_path / "root", [FIRMWARE]))
    assert result.findings == ["kernel.amd_intel_log.firmware_missing"]
    assert result.commands == ["sudo apt install --only-upgrade linux-firmware && sudo "
                               "update-initramfs -u", "sudo reboot"]


def _dmesg_only(root: Path, lines: list[str]) -> Path:
    b = HostRootBuilder(root)
    roots._amd_base(b, 992)
    b.add_gpu("0000:03:00.0", 0x1002, 0x744C, 0x030000, card=0, render=128, board_info=True,
              gc_version=(11, 0, 0), kfd_node=True)
    b.add_command("journalctl-kernel", roots.JOURNAL_ARGV, returncode=1,
                  stderr="No journal files were found.")
    b.add_command("dmesg", ["dmesg"], stdout="".join(f"[    4.{i:06d}] {ln}\n"
                                                     for i, ln in enumerate(lines)))
    return b.finish()


def test_dmesg_is_the_fallback_when_the_journal_has_nothing(tmp_path):
    result = check(_dmesg_only(tmp_path / "root", [*HEALTHY, KFD_REFUSED]))
    assert (result.status.value, result.findings) == (
        "fail", ["kernel.amd_intel_log.kfd_unsupported"])
    assert "(`dmesg`)" in result.evidence[0]


def test_an_empty_journal_for_a_user_outside_its_groups_falls_back_to_dmesg(tmp_path):
    root = _dmesg_only(tmp_path / "root", [*HEALTHY, RING])

    def empty(doc: dict) -> None:
        doc["commands"]["journalctl-kernel"].update(returncode=0, stderr="")
    edit_host_json(root, empty)
    result = check(root)
    assert (result.status.value, result.findings) == ("warn", ["kernel.amd_intel_log.gpu_reset"])
    assert "(`dmesg`)" in result.evidence[0]


def test_no_log_recorded_skips(tmp_path):
    result = check(sc.amd_laptop_field_guide(tmp_path / "root"))
    assert result.status.value == "skip"
    assert "journalctl -k -b -q --no-pager -o short-iso -n 20000` was not recorded" in (
        result.summary)


def test_neither_log_readable_says_why(tmp_path):
    b = HostRootBuilder(tmp_path / "root")
    roots._amd_base(b, 992)
    b.add_gpu("0000:03:00.0", 0x1002, 0x744C, 0x030000, card=0, render=128, board_info=True,
              gc_version=(11, 0, 0), kfd_node=True)
    b.add_command("journalctl-kernel", roots.JOURNAL_ARGV, stdout="")
    b.add_command("dmesg", ["dmesg"], returncode=1,
                  stderr="dmesg: read kernel buffer failed: Operation not permitted")
    result = check(b.finish())
    assert result.status.value == "skip"
    assert "printed no kernel messages" in result.summary
    assert "Operation not permitted" in result.summary


def test_a_host_without_an_amd_or_intel_gpu_skips(tmp_path):
    assert check(sc.build("server_8gpu_bmc", tmp_path / "root")).status.value == "skip"
