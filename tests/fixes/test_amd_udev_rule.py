"""devices.udev_rule: the udev rule for /dev/kfd and the render nodes, previewed as a diff with
its udevadm commands; nothing to do where the nodes are already right; refused where udev
cannot apply it.

On host roots fixes are shown, never applied. This test machine has no udev (no udevadm), so
the live plan must refuse and leave /etc/udev alone.
"""

from __future__ import annotations

import os
import shutil

import pytest

from fixes.amd_udev_rule import RULES, RULES_FILE
from tests.support import amd_intel_roots as roots
from tests.support import scenarios as sc
from tests.support.cli import check_of, report_for, run_gpudoctor
from tests.support.fix_plan import plan_text

FIX = "devices.udev_rule"



def test_root_only_kfd_is_warned_and_the_fix_offered(tmp_path):
    report = report_for(roots.amd_kfd_root_only(tmp_path / "root"))
    check = check_of(report, "groups.render")
    assert check["status"] == "warn"
    assert "/dev/kfd is 0600: only root can open it" in check["summary"]
    assert FIX in check["fixes"]


def test_plan_shows_the_rule_as_a_diff_and_the_udevadm_commands(tmp_path):
    root = roots.amd_kfd_root_only(tmp_path / "root")
    run = run_gpudoctor("fix", FIX, "--root", root)
    out = run.stdout
    assert f"+++ {RULES_FILE}" in out
    assert '+SUBSYSTEM=="kfd", KERNEL=="kfd", GROUP="render", MODE="0660"' in out
    assert '+SUBSYSTEM=="drm", KERNEL=="renderD*", GROUP="render", MODE="0660"' in out
    assert "/usr/bin/udevadm control --reload-rules" in out
    assert ("/usr/bin/udevadm trigger --action=change --subsystem-match=kfd "
            "--subsystem-match=drm") in out
    assert "now: /dev/kfd is 0600, group GID 0" in out
    assert "containers started afterwards need --group-add=992" in out
    assert "fixes are shown, never applied" in out
    assert not (root / RULES_FILE.lstrip("/")).exists()


def test_rule_never_makes_nodes_world_writable():
    assert "0666" not in RULES and 'MODE="0660"' in RULES


def test_same_rule_already_there_only_asks_udev_again(tmp_path):
    root = roots.amd_kfd_root_only(tmp_path / "root", rule=RULES)
    out = plan_text(root, FIX)
    assert "is already in place: only udev is asked again" in out
    assert "+++" not in out


def test_nothing_to_do_where_the_nodes_are_right(tmp_path):
    root = sc.amd_laptop_field_guide(tmp_path / "root")
    assert check_of(report_for(root), "groups.render")["status"] == "pass"
    out = plan_text(root, FIX)
    assert "nothing to do" in out.lower()
    assert "+++" not in out


def test_refused_without_udev(tmp_path):
    root = roots.amd_kfd_root_only(tmp_path / "root", udevadm=False)
    assert "udevadm is not installed" in " ".join(plan_text(root, FIX).split())


@pytest.mark.machine
def test_live_host_without_udev_is_left_alone(tmp_path):
    """This machine has no udevadm: with kfd made root-only by mknod, the plan refuses."""
    assert shutil.which("udevadm") is None, "this test expects a machine without udev"
    made = []
    for path in ("/dev/kfd",):
        assert not os.path.exists(path), f"{path} exists here; refusing to touch it"
    os.mknod("/dev/kfd", 0o020600, os.makedev(236, 0))
    made.append("/dev/kfd")
    try:
        run = run_gpudoctor("fix", FIX, "--yes")
        assert run.returncode != 0
        flat = " ".join((run.stdout + run.stderr).split())
        assert "udevadm is not installed" in flat
        assert not os.path.exists(RULES_FILE)
    finally:
        for path in made:
            os.unlink(path)
