"""amd.gfx_target and --hsa-override: gfx targets read from the KFD topology, judged against the
dated ROCm support table, and the override only on request (per GPU when values differ).

Roots: tests/support/amd_intel_roots.py (RX 6700 XT gfx1031, RX 7600 gfx1102, the pair, a
Phoenix-only mini PC) and the shared scenarios (the field guide's laptop, two 7900 XTX with a
Raphael iGPU, Strix Halo alone, MI300X in CPX mode). Every report is schema-validated.
"""

from __future__ import annotations

import pytest

from gpudoctor.facts.amd import gfx_name, support_table
from tests.support import amd_intel_roots as roots
from tests.support import scenarios as sc
from tests.support.cli import check_of, report_for, run_gpudoctor
from tests.test_snapshot_roots import snapshot


def envs(args: list[str]) -> list[str]:
    return [a.split("=", 1)[1] for a in args if a.startswith("--env=")]


def test_gfx_names_follow_the_kernels_encoding():
    assert gfx_name(110501) == "gfx1151"
    assert gfx_name(90012) == "gfx90c"
    assert gfx_name(100301) == "gfx1031"
    assert gfx_name(90402) == "gfx942"


def test_the_support_table_is_package_data_dated_per_release_line():
    table = support_table()
    assert table.checked == "2026-11-30"
    assert [line.rocm for line in table.lines] == ["6.2", "6.3", "6.4", "7.0", "10.0"]
    assert {"gfx1100", "gfx1030", "gfx942"} <= table.line("6.4.1").gfx
    assert "gfx1102" not in table.line("6.4").gfx and "gfx1102" in table.newest.gfx
    assert table.overrides["gfx1031"] == ("10.3.0", "gfx1030")


@pytest.mark.parametrize("name", ["amd_laptop_field_guide", "amd_desktop_two_7900xtx_igpu",
                                  "amd_apu_only_strix_halo", "amd_mi300x_partitioned"])
def test_supported_gpus_stay_quiet_and_get_no_override(name, tmp_path):
    root = sc.build(name, tmp_path / "root")
    report = report_for(root, "--hsa-override")
    check = check_of(report, "amd.gfx_target")
    assert check["status"] == "pass", check
    assert check["findings"] == []
    assert envs(report["docker_run_args"]) == []


def test_mi300x_in_cpx_mode_keeps_all_64_render_nodes(tmp_path):
    root = sc.amd_mi300x_partitioned(tmp_path / "root")
    report = report_for(root)
    renders = [a for a in report["docker_run_args"] if a.startswith("--device=/dev/dri/render")]
    assert len(renders) == 64
    assert "gfx942" in check_of(report, "amd.gfx_target")["summary"]


def test_rdna2_card_outside_the_table_gets_the_known_override_offered(tmp_path):
    root = roots.amd_rx6700xt(tmp_path / "root")
    report = report_for(root)
    check = check_of(report, "amd.gfx_target")
    assert check["status"] == "warn"
    assert check["findings"] == ["amd.gfx_target.unsupported_override_known"]
    assert "gfx1031" in check["summary"] and "HSA_OVERRIDE_GFX_VERSION=10.3.0" in check["summary"]
    assert "invalid device function" in check["details"]
    assert "hipErrorNoBinaryForGpu" in check["details"]
    assert check["commands"] == ["gpudoctor devices --hsa-override"]
    assert "nodes/1/properties: gfx_target_version 100301 = gfx1031" in " ".join(
        check["evidence"])
    # never silently added
    assert envs(report["docker_run_args"]) == []


def test_the_override_is_added_only_when_asked(tmp_path):
    root = roots.amd_rx6700xt(tmp_path / "root")
    report = report_for(root, "--hsa-override")
    assert report["docker_run_args"] == ["--device=/dev/kfd", "--device=/dev/dri/renderD128",
                                         "--group-add=992",
                                         "--env=HSA_OVERRIDE_GFX_VERSION=10.3.0"]
    check = check_of(report, "amd.gfx_target")
    assert check["status"] == "pass"
    assert check["findings"] == ["amd.gfx_target.override_applied"]


def test_devices_prints_the_override_in_run_line_and_compose(tmp_path):
    root = roots.amd_rx6700xt(tmp_path / "root")
    plain = run_gpudoctor("devices", "--root", root)
    assert "HSA_OVERRIDE" not in plain.stdout
    run = run_gpudoctor("devices", "--root", root, "--hsa-override")
    assert run.returncode == 0, run.stderr
    assert "--env=HSA_OVERRIDE_GFX_VERSION=10.3.0 IMAGE" in run.stdout
    assert "environment:\n        - HSA_OVERRIDE_GFX_VERSION=10.3.0" in run.stdout
    doc = run_gpudoctor("devices", "--root", root, "--hsa-override", "--json").json
    assert doc["compose"]["service"]["environment"] == ["HSA_OVERRIDE_GFX_VERSION=10.3.0"]


def test_rdna3_card_is_judged_against_the_chosen_rocm_line(tmp_path):
    root = roots.amd_rx7600(tmp_path / "root")
    newest = check_of(report_for(root), "amd.gfx_target")
    assert newest["status"] == "pass" and "gfx1102" in newest["summary"]
    old = report_for(root, "--rocm", "6.4", "--hsa-override")
    check = check_of(old, "amd.gfx_target")
    assert check["status"] == "pass"
    assert "runs as gfx1100 through HSA_OVERRIDE_GFX_VERSION=11.0.0" in check["summary"]
    assert envs(old["docker_run_args"]) == ["HSA_OVERRIDE_GFX_VERSION=11.0.0"]
    warned = check_of(report_for(root, "--rocm", "6.4"), "amd.gfx_target")
    assert warned["status"] == "warn"
    assert "ROCm 7.0 and later list gfx1102" in warned["details"]


def test_mixed_pair_gets_per_gpu_overrides_by_kfd_node(tmp_path):
    root = roots.amd_mixed_pair(tmp_path / "root")
    newest = report_for(root, "--hsa-override")
    # only the RX 6700 XT (KFD node 2) needs one: a global value would break the RX 7600
    assert envs(newest["docker_run_args"]) == ["HSA_OVERRIDE_GFX_VERSION_2=10.3.0"]
    old = report_for(root, "--hsa-override", "--rocm", "6.4")
    assert envs(old["docker_run_args"]) == ["HSA_OVERRIDE_GFX_VERSION_2=10.3.0",
                                            "HSA_OVERRIDE_GFX_VERSION_1=11.0.0"]
    warned = check_of(report_for(root, "--rocm", "6.4"), "amd.gfx_target")
    assert warned["status"] == "warn"
    assert "KFD node 2 only" in warned["details"]


def test_apu_only_box_is_selected_and_judged(tmp_path):
    root = roots.amd_phoenix_apu_only(tmp_path / "root")
    report = report_for(root)
    assert [g["selected"] for g in report["gpus"]] == [True]
    assert check_of(report, "amd.gfx_target")["status"] == "pass"
    old = check_of(report_for(root, "--rocm", "7.0"), "amd.gfx_target")
    assert old["status"] == "warn" and "HSA_OVERRIDE_GFX_VERSION=11.0.0" in old["summary"]


def test_an_unknown_rocm_line_is_a_one_line_error(tmp_path):
    root = roots.amd_rx6700xt(tmp_path / "root")
    run = run_gpudoctor("--json", "--root", root, "--rocm", "5.9")
    assert run.returncode == 2
    assert run.stderr.startswith("gpudoctor: error: --rocm 5.9: not a ROCm release line")
    assert len(run.stderr.strip().splitlines()) == 1


def test_a_snapshot_of_the_pair_replays_the_same_verdict(tmp_path):
    root = roots.amd_mixed_pair(tmp_path / "root")
    archive = tmp_path / "snap.tar.gz"
    snapshot(root, archive)
    again = report_for(archive, "--hsa-override")
    first = report_for(root, "--hsa-override")
    assert again["docker_run_args"] == first["docker_run_args"]
    assert check_of(again, "amd.gfx_target")["summary"] == check_of(
        first, "amd.gfx_target")["summary"]


@pytest.mark.parametrize(("per_gpu", "memory"), [(8, "NPS4"), (4, "NPS1"), (2, "NPS4")])
def test_partition_modes_give_every_active_partition(per_gpu, memory, tmp_path):
    """CPX/QPX/DPX with NPS1 or NPS4: one render node per active partition, 8 GPUs."""
    root = sc.amd_mi300x_partitioned(tmp_path / "root", partitions_per_gpu=per_gpu)
    for path in root.glob("sys/devices/**/current_memory_partition"):
        path.write_text(f"{memory}\n")
    report = report_for(root)
    renders = [a for a in report["docker_run_args"] if a.startswith("--device=/dev/dri/render")]
    assert len(renders) == 8 * per_gpu
    assert check_of(report, "amd.gfx_target")["status"] == "pass"


def test_including_a_raphael_igpu_gives_it_its_own_override(tmp_path):
    """Two RX 7900 XTX (gfx1100) plus the Raphael iGPU (gfx1036, KFD node 1) on request."""
    root = sc.amd_desktop_two_7900xtx_igpu(tmp_path / "root")
    report = report_for(root, "--include-integrated", "--hsa-override")
    assert envs(report["docker_run_args"]) == ["HSA_OVERRIDE_GFX_VERSION_1=10.3.0"]
    assert envs(report_for(root, "--hsa-override")["docker_run_args"]) == []


def test_explain_confirms_missing_code_where_the_target_is_unsupported(tmp_path):
    """`hip-no-binary` is decided by amd.gfx_target: confirmed on an RX 6700 XT (gfx1031),
    ruled out where every selected GPU is a supported target."""
    text = "RuntimeError: HIP error: invalid device function"
    bad = run_gpudoctor("explain", "--json", "--root", roots.amd_rx6700xt(tmp_path / "a"), text)
    good = run_gpudoctor("explain", "--json", "--root",
                         sc.amd_desktop_two_7900xtx_igpu(tmp_path / "b"), text)
    assert [d.json["causes"][0]["cause"]["id"] for d in (bad, good)] == ["hip-no-binary"] * 2
    assert [d.json["causes"][0]["verdict"] for d in (bad, good)] == ["confirmed", "ruled out"]
    assert "gfx1031" in bad.json["causes"][0]["why"]
