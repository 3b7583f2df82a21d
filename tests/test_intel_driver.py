"""intel.driver end to end and the Intel run arguments: the Arc card selected beside the iGPU,
`gpudoctor devices`, and a snapshot replaying a finding. Each finding of intel.driver is tested
in process in tests/checks/test_intel_driver.py.

Roots: tests/support/amd_intel_roots.py, laid out as i915 and xe lay out sysfs.
"""

from __future__ import annotations

from tests.support import amd_intel_roots as roots
from tests.support.cli import check_of, report_for, run_gpudoctor
from tests.test_snapshot_roots import snapshot


def test_arc_card_beside_the_igpu_is_selected_and_quiet(tmp_path):
    report = report_for(roots.intel_arc_b580_igpu(tmp_path / "root"))
    gpus = {g["pci"]: g for g in report["gpus"]}
    assert gpus["0000:00:02.0"]["integrated"] and not gpus["0000:00:02.0"]["selected"]
    assert gpus["0000:03:00.0"]["selected"] and gpus["0000:03:00.0"]["driver"] == "xe"
    assert report["docker_run_args"] == ["--device=/dev/dri/renderD129", "--group-add=993"]
    check = check_of(report, "intel.driver")
    assert check["status"] == "pass"
    assert check["summary"].startswith("03:00.0 (Arc Battlemage (BMG)) on xe")
    for other in ("kernel.driver", "kernel.amd_intel_log", "devices.nodes", "groups.render",
                  "pciids.fresh"):
        assert check_of(report, other)["status"] == "pass", other


def test_include_integrated_adds_the_igpu_render_node(tmp_path):
    report = report_for(roots.intel_arc_b580_igpu(tmp_path / "root"), "--include-integrated")
    assert report["docker_run_args"] == ["--device=/dev/dri/renderD128",
                                         "--device=/dev/dri/renderD129", "--group-add=993"]


def test_devices_shows_the_card_and_the_iGPU_left_out(tmp_path):
    run = run_gpudoctor("devices", "--root", roots.intel_arc_b580_igpu(tmp_path / "root"))
    assert run.returncode == 0
    assert "docker run --device=/dev/dri/renderD129 --group-add=993 IMAGE" in run.stdout
    assert "integrated GPU left out because a discrete GPU exists" in run.stdout


def test_a_snapshot_replays_the_force_probe_finding(tmp_path):
    root = roots.intel_alchemist_force_probe(tmp_path / "root")
    archive = tmp_path / "snap.tar.gz"
    snapshot(root, archive)
    assert check_of(report_for(archive), "intel.driver")["findings"] == [
        "intel.driver.force_probe_needed"]
