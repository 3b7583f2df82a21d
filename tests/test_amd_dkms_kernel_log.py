"""amd.dkms and kernel.amd_intel_log: amdgpu-dkms against the running kernel, and what amdgpu,
KFD, i915 and xe wrote in this boot's kernel log (journal first, dmesg as fallback).

Roots: tests/support/amd_intel_roots.py. Recorded commands (`dkms-status`,
`journalctl-kernel`, `dmesg`) stand where the live host would run them; a snapshot of each
broken root must replay the same findings.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from gpudoctor.facts.amd import parse_dkms_status
from tests.support import amd_intel_roots as roots
from tests.support import scenarios as sc
from tests.support.cli import check_of, report_for
from tests.support.hostroot import HostRootBuilder
from tests.test_snapshot_roots import snapshot


# ----- dkms status ----------------------------------------------------------------------------
def test_dkms_status_lines_of_both_layouts_are_read():
    new = parse_dkms_status(
        "amdgpu/6.16.6-2255209.24.04, 6.17.0-5-generic, x86_64: installed (Original modules "
        "exist)\nnvidia/550.120, 6.17.0-5-generic, x86_64: installed\n"
        "amdgpu/6.16.13-2341068.24.04: added\n")
    assert [(e.version, e.kernel, e.state) for e in new] == [
        ("6.16.6-2255209.24.04", "6.17.0-5-generic", "installed"),
        ("6.16.13-2341068.24.04", None, "added")]
    assert new[0].note == "(Original modules exist)"
    old = parse_dkms_status("amdgpu, 1.9-211.el7, 3.10.0-862.11.6.el7.x86_64, x86_64: "
                            "installed (original_module exists)")
    assert [(e.version, e.kernel, e.arch) for e in old] == [
        ("1.9-211.el7", "3.10.0-862.11.6.el7.x86_64", "x86_64")]


def test_dkms_not_built_for_the_running_kernel(tmp_path):
    report = report_for(roots.amd_dkms(tmp_path / "root", broken=True))
    check = check_of(report, "amd.dkms")
    assert check["status"] == "warn"
    assert check["findings"] == ["amd.dkms.not_built_in_tree_loaded"]
    assert check["summary"].startswith("amdgpu-dkms 6.12.12-2147987.24.04 is not built for "
                                       "6.14.0-24-generic; DKMS built it for 6.8.0-45-generic")
    evidence = "\n".join(check["evidence"])
    assert "loaded: the in-tree amdgpu of 6.14.0-24-generic" in evidence
    assert "make.log: /var/lib/dkms/amdgpu/6.12.12-2147987.24.04/build/amd/amdkcl/" in evidence
    assert "error: implicit declaration of function" in check["details"]
    assert check["commands"] == ["sudo dkms install amdgpu/6.12.12-2147987.24.04 -k "
                                 "6.14.0-24-generic"]


def test_dkms_built_and_loaded_is_quiet(tmp_path):
    report = report_for(roots.amd_dkms(tmp_path / "root", broken=False))
    check = check_of(report, "amd.dkms")
    assert check["status"] == "pass"
    assert check["summary"] == "amdgpu-dkms 6.12.12 is built for 6.8.0-45-generic and loaded"


def test_an_upgrade_without_reboot_is_seen(tmp_path):
    root = roots.amd_dkms(tmp_path / "root", broken=False)
    (root / "sys/module/amdgpu/version").write_text("6.10.5\n")
    check = check_of(report_for(root), "amd.dkms")
    assert check["status"] == "warn"
    assert check["findings"] == ["amd.dkms.reboot_pending"]
    assert check["summary"] == ("amdgpu 6.10.5 is loaded, but amdgpu-dkms built "
                                "6.12.12-2147987.24.04 for 6.8.0-45-generic")


def test_no_amdgpu_dkms_means_the_check_skips(tmp_path):
    report = report_for(sc.amd_laptop_field_guide(tmp_path / "root"))
    assert check_of(report, "amd.dkms")["status"] == "skip"


def test_a_dkms_module_loaded_without_its_tree_is_not_called_in_tree(tmp_path):
    check = check_of(report_for(sc.amd_mi300x_8(tmp_path / "root")), "amd.dkms")
    assert check["status"] == "skip"
    assert check["summary"].startswith("amdgpu 6.12.12 from amdgpu-dkms is loaded")


def test_no_driver_at_all_after_a_failed_build_fails(tmp_path):
    root = roots.amd_dkms(tmp_path / "root", broken=True)
    (root / "proc/modules").write_text("")
    report = report_for(root)
    check = check_of(report, "amd.dkms")
    assert check["status"] == "fail"
    assert check["findings"] == ["amd.dkms.not_built_none_loaded"]


def test_a_snapshot_of_the_failed_build_replays_it(tmp_path):
    root = roots.amd_dkms(tmp_path / "root", broken=True)
    archive = tmp_path / "snap.tar.gz"
    snapshot(root, archive)
    first, again = report_for(root), report_for(archive)
    assert check_of(again, "amd.dkms")["findings"] == check_of(first, "amd.dkms")["findings"]
    assert check_of(again, "amd.dkms")["evidence"] == check_of(first, "amd.dkms")["evidence"]


# ----- the kernel log -------------------------------------------------------------------------
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


@pytest.mark.parametrize(("lines", "status", "findings"), [
    (HEALTHY, "pass", []),
    ([*HEALTHY, KFD_REFUSED], "fail", ["kernel.amd_intel_log.kfd_unsupported"]),
    ([FIRMWARE, FATAL], "fail", ["kernel.amd_intel_log.firmware_missing",
                                 "kernel.amd_intel_log.init_failed"]),
    ([*HEALTHY, RING, RESET, RING], "warn", ["kernel.amd_intel_log.gpu_reset"]),
])
def test_kernel_log_signals(lines, status, findings, tmp_path):
    report = report_for(roots.amd_kernel_log(tmp_path / "root", lines))
    check = check_of(report, "kernel.amd_intel_log")
    assert check["status"] == status, check
    assert check["findings"] == findings
    if findings:
        assert any(line in e for e in check["evidence"] for line in lines if "amdgpu:" in line
                   or "firmware" in line)


def test_gpu_resets_are_counted(tmp_path):
    report = report_for(roots.amd_kernel_log(tmp_path / "root", [RING, RESET, RING]))
    check = check_of(report, "kernel.amd_intel_log")
    assert "(3 times)" in check["summary"]


def test_firmware_remedy_is_pasteable(tmp_path):
    check = check_of(report_for(roots.amd_kernel_log(tmp_path / "root", [FIRMWARE])),
                     "kernel.amd_intel_log")
    assert check["commands"] == ["sudo apt install --only-upgrade linux-firmware && sudo "
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
    report = report_for(_dmesg_only(tmp_path / "root", [*HEALTHY, KFD_REFUSED]))
    check = check_of(report, "kernel.amd_intel_log")
    assert check["status"] == "fail"
    assert "(`dmesg`)" in check["evidence"][0]


def test_no_log_recorded_skips(tmp_path):
    report = report_for(sc.amd_laptop_field_guide(tmp_path / "root"))
    check = check_of(report, "kernel.amd_intel_log")
    assert check["status"] == "skip"
    assert "journalctl -k -b -q --no-pager -o short-iso -n 20000` was not recorded" in (
        check["summary"])


def test_a_snapshot_replays_the_kernel_log(tmp_path):
    root = roots.amd_kernel_log(tmp_path / "root", [*HEALTHY, KFD_REFUSED])
    archive = tmp_path / "snap.tar.gz"
    snapshot(root, archive)
    check = check_of(report_for(archive), "kernel.amd_intel_log")
    assert check["findings"] == ["kernel.amd_intel_log.kfd_unsupported"]


def test_an_empty_journal_for_a_user_outside_its_groups_falls_back_to_dmesg(tmp_path):
    root = _dmesg_only(tmp_path / "root", [*HEALTHY, RING])
    doc = (root / ".gpudoctor/host.json")
    text = doc.read_text().replace('"returncode": 1', '"returncode": 0', 1).replace(
        "No journal files were found.", "")
    doc.write_text(text)
    check = check_of(report_for(root), "kernel.amd_intel_log")
    assert check["status"] == "warn"
    assert "(`dmesg`)" in check["evidence"][0]


def test_neither_log_readable_says_why(tmp_path):
    b = HostRootBuilder(tmp_path / "root")
    roots._amd_base(b, 992)
    b.add_gpu("0000:03:00.0", 0x1002, 0x744C, 0x030000, card=0, render=128, board_info=True,
              gc_version=(11, 0, 0), kfd_node=True)
    b.add_command("journalctl-kernel", roots.JOURNAL_ARGV, stdout="")
    b.add_command("dmesg", ["dmesg"], returncode=1,
                  stderr="dmesg: read kernel buffer failed: Operation not permitted")
    check = check_of(report_for(b.finish()), "kernel.amd_intel_log")
    assert check["status"] == "skip"
    assert "printed no kernel messages" in check["summary"]
    assert "Operation not permitted" in check["summary"]


def test_dkms_status_reader_never_raises_on_odd_text():
    from hypothesis import given, settings
    from hypothesis import strategies as st

    @settings(max_examples=300, deadline=None)
    @given(st.text(alphabet=st.sampled_from("amdgpu/,:. -\n0123456789xinstalled"), max_size=200))
    def check(text):
        for entry in parse_dkms_status(text):
            assert entry.state and entry.version

    check()
