"""amd.gfx_target in process: each selected AMD GPU's gfx target against the chosen ROCm line.
Targets with a known override get it offered (or applied with --hsa-override), per KFD node
where only some GPUs need it; targets without one say so; supported GPUs give no finding.
Roots: tests/support/amd_intel_roots.py and the scenarios; the run arguments and `devices`
output stay in tests/test_amd_gfx_targets.py."""

from __future__ import annotations

from pathlib import Path

import pytest

from gpudoctor.plugin import Result
from tests.support import amd_intel_roots as roots
from tests.support import scenarios as sc
from tests.support.check_run import run_only
from tests.support.hostroot import HostRootBuilder

ID = "amd.gfx_target"
DEVICES = "gpudoctor devices --hsa-override"


def check(root: Path, rocm: str | None = None, override: bool = False) -> Result:
    return run_only(root, ID, extra={"hsa_override": override, "rocm": rocm})[ID]


def one_gpu(root: Path, device: int, gc: tuple[int, int, int], target: int,
            kfd_node: bool = True) -> Path:
    """A desktop with one AMD card of this gfx_target_version behind its switch."""
    b = HostRootBuilder(root)
    roots._amd_base(b, 992)
    b.add_gpu("0000:03:00.0", 0x1002, device, 0x030000,
              parent=roots._bridged(b, "0000:00:01.1", "0000:01:00.0", "0000:02:00.0"),
              card=0, render=128, board_info=True, gc_version=gc, gfx_target_version=target,
              kfd_node=kfd_node)
    return b.finish()


@pytest.mark.parametrize("name", ["amd_laptop_field_guide", "amd_desktop_two_7900xtx_igpu",
                                  "amd_apu_only_strix_halo", "amd_mi300x_partitioned"])
def test_supported_gpus_pass(tmp_path, name):
    result = check(sc.build(name, tmp_path / "root"), override=True)
    assert (result.status.value, result.findings) == ("pass", [])
    assert result.summary.startswith("ROCm 10.0 ships code for every selected AMD GPU (")


def test_rdna2_card_outside_the_table_gets_the_known_override_offered(tmp_path):
    result = check(roots.amd_rx6700xt(tmp_path / "root"))
    assert (result.status.value, result.findings) == (
        "warn", ["amd.gfx_target.unsupported_override_known"])
    assert result.summary == ("03:00.0 (Navi 22 [Radeon RX 6700/6700 XT/6750 XT / 6800M/6850M "
                              "XT], gfx1031) is not a target ROCm 10.0 ships code for; "
                              "`HSA_OVERRIDE_GFX_VERSION=10.3.0` is the known workaround")
    assert "hipErrorNoBinaryForGpu" in result.details
    assert "and later list" not in result.details  # no ROCm line lists gfx1031
    assert result.commands == [DEVICES]
    assert "nodes/1/properties: gfx_target_version 100301 = gfx1031" in " ".join(
        result.evidence)


def test_the_override_asked_for_passes_with_its_finding(tmp_path):
    result = check(roots.amd_rx6700xt(tmp_path / "root"), override=True)
    assert (result.status.value, result.findings) == ("pass", ["amd.gfx_target.override_applied"])
    assert "runs as gfx1030 through HSA_OVERRIDE_GFX_VERSION=10.3.0" in result.summary
    assert result.commands == []


def test_an_older_rocm_line_says_which_line_lists_the_target(tmp_path):
    root = roots.amd_rx7600(tmp_path / "root")
    assert check(root).findings == []
    result = check(root, rocm="6.4")
    assert (result.status.value, result.findings) == (
        "warn", ["amd.gfx_target.unsupported_override_known"])
    assert "ROCm 7.0 and later list gfx1102" in result.details
    applied = check(root, rocm="6.4", override=True)
    assert applied.status.value == "pass"
    assert "runs as gfx1100 through HSA_OVERRIDE_GFX_VERSION=11.0.0" in applied.summary


def test_a_mixed_pair_gets_per_gpu_overrides_by_kfd_node(tmp_path):
    root = roots.amd_mixed_pair(tmp_path / "root")
    result = check(root, rocm="6.4")
    assert (result.status.value, result.findings) == (
        "warn", ["amd.gfx_target.unsupported_override_known"])  # two GPUs, one finding id
    assert "KFD node 2 only" in result.details and "KFD node 1 only" in result.details
    assert result.commands == [DEVICES]
    applied = check(root, rocm="6.4", override=True)
    assert (applied.status.value, applied.findings) == (
        "pass", ["amd.gfx_target.override_applied"])
    assert "HSA_OVERRIDE_GFX_VERSION_2=10.3.0" in applied.summary
    assert "HSA_OVERRIDE_GFX_VERSION_1=11.0.0" in applied.summary


def test_rdna1_has_no_safe_override(tmp_path):
    result = check(one_gpu(tmp_path / "root", 0x731F, (10, 1, 0), 100100))
    assert (result.status.value, result.findings) == (
        "warn", ["amd.gfx_target.unsupported_no_override"])
    assert "RDNA1 has no supported sibling in current ROCm lines" in result.details
    assert result.commands == []


def test_a_target_of_a_newer_line_without_an_override_says_which_line(tmp_path):
    result = check(one_gpu(tmp_path / "root", 0x75A3, (9, 5, 0), 90500), rocm="6.4")
    assert (result.status.value, result.findings) == (
        "warn", ["amd.gfx_target.unsupported_no_override"])
    assert "ROCm 7.0 and later list gfx950" in result.details


def test_no_kfd_node_means_no_target_to_judge(tmp_path):
    result = check(one_gpu(tmp_path / "root", 0x744C, (11, 0, 0), 110000, kfd_node=False))
    assert (result.status.value, result.findings) == ("skip", [])
    assert result.summary == "no gfx target could be read from the KFD topology"


def test_a_gpu_without_a_kfd_node_is_named_beside_the_judged_ones(tmp_path):
    b = HostRootBuilder(tmp_path / "root")
    roots._amd_base(b, 992)
    roots._rx7600(b, "0000:08:00.0", roots._bridged(b, "0000:00:01.2", "0000:06:00.0",
                                                    "0000:07:00.0"), 0, 128)
    b.add_gpu("0000:03:00.0", 0x1002, 0x744C, 0x030000,
              parent=roots._bridged(b, "0000:00:01.1", "0000:01:00.0", "0000:02:00.0"),
              card=1, render=129, board_info=True, gc_version=(11, 0, 0), kfd_node=False)
    result = check(b.finish())
    assert (result.status.value, result.findings) == ("pass", [])
    assert result.summary == ("ROCm 10.0 ships code for every selected AMD GPU (08:00.0 "
                              "gfx1102); gfx target unknown for 03:00.0")
