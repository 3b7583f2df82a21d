"""amd.dkms and kernel.amd_intel_log: amdgpu-dkms against the running kernel, and what amdgpu,
KFD, i915 and xe wrote in this boot's kernel log (journal first, dmesg as fallback).

Roots: tests/support/amd_intel_roots.py. Recorded commands (`dkms-status`,
`journalctl-kernel`, `dmesg`) stand where the live host would run them; a snapshot of each
broken root must replay the same findings. What each check decides on each root is tested in
process in tests/checks/test_amd_dkms.py and tests/checks/test_kernel_log_amd_intel.py.
"""

from __future__ import annotations

from gpudoctor.facts.amd import parse_dkms_status
from tests.checks.test_kernel_log_amd_intel import HEALTHY, KFD_REFUSED
from tests.support import amd_intel_roots as roots
from tests.support.cli import check_of, report_for
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


def test_a_snapshot_of_the_failed_build_replays_it(tmp_path):
    root = roots.amd_dkms(tmp_path / "root", broken=True)
    archive = tmp_path / "snap.tar.gz"
    snapshot(root, archive)
    first, again = report_for(root), report_for(archive)
    assert check_of(again, "amd.dkms")["findings"] == check_of(first, "amd.dkms")["findings"]
    assert check_of(again, "amd.dkms")["evidence"] == check_of(first, "amd.dkms")["evidence"]


# ----- the kernel log -------------------------------------------------------------------------
def test_a_snapshot_replays_the_kernel_log(tmp_path):
    root = roots.amd_kernel_log(tmp_path / "root", [*HEALTHY, KFD_REFUSED])
    archive = tmp_path / "snap.tar.gz"
    snapshot(root, archive)
    check = check_of(report_for(archive), "kernel.amd_intel_log")
    assert check["findings"] == ["kernel.amd_intel_log.kfd_unsupported"]


def test_dkms_status_reader_never_raises_on_odd_text():
    from hypothesis import given, settings
    from hypothesis import strategies as st

    @settings(max_examples=300, deadline=None)
    @given(st.text(alphabet=st.sampled_from("amdgpu/,:. -\n0123456789xinstalled"), max_size=200))
    def check(text):
        for entry in parse_dkms_status(text):
            assert entry.state and entry.version

    check()
