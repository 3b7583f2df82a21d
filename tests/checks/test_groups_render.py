"""groups.render on the issue's host roots and variants.

The named scenarios come from real `gpudoctor --json --root` runs (the session's `reports`,
validated against the schema); each finding is reached in process on the smallest variant that
gives it, beside the healthy roots that give none.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from checks.groups_render import GroupsRender
from tests.support import scenarios as sc
from tests.support.check_roots import edit_host_json, variant
from tests.support.cli import check_of
from tests.support.hostroot import HostRootBuilder
from tests.support.hw_checks import build, found, judge


def test_groups_render_pass_names_gid_and_membership(reports):
    check = check_of(reports["amd_laptop_field_guide"], "groups.render")
    assert check["status"] == "pass"
    assert check["summary"] == ("the device files belong to render 110, read-write for the "
                                "group; alice is a member")
    assert "alice holds render (110)" in check["evidence"]
    assert any("AMD's ROCm images call GID 109 render" in line for line in check["evidence"])
    assert "--group-add=110" in check["details"]


def test_groups_render_explains_kfd_and_render_in_different_groups(reports):
    check = check_of(reports["amd_kfd_render_different_groups"], "groups.render")
    assert check["status"] == "pass"
    assert "video 44, render 105" in check["summary"]
    assert ("/dev/kfd: crw-rw---- owner UID 0, group video (GID 44): read-write for the group"
            in check["evidence"])
    assert any("each GID needs its own --group-add" in line for line in check["evidence"])
    assert ('udev rule for /dev/kfd: /etc/udev/rules.d/70-kfd.rules: SUBSYSTEM=="kfd", '
            'KERNEL=="kfd", TAG+="uaccess", GROUP="video"') in check["evidence"]
    assert "--group-add=44, --group-add=105" in check["details"]


def test_root_only_kfd_warns_with_the_udev_rule(tmp_path):
    def after(root: Path) -> None:
        edit_host_json(root, lambda doc: doc["device_nodes"]["/dev/kfd"].update(
            mode="0600", gid=0))
    report = variant(tmp_path, "amd_laptop_field_guide", after=after)
    check = check_of(report, "groups.render")
    assert check["status"] == "warn"
    assert "/dev/kfd is 0600: only root can open it" in check["summary"]
    assert 'SUBSYSTEM=="kfd", KERNEL=="kfd", GROUP="render", MODE="0660"' in check["remedy"]
    assert report["docker_run_args"] == LAPTOP_ARGS_ROOT_KFD


LAPTOP_ARGS_ROOT_KFD = ["--device=/dev/kfd", "--device=/dev/dri/renderD128", "--group-add=110"]


def test_groups_render_skips_nvidia_with_the_reason(reports):
    check = check_of(reports["server_8gpu_bmc"], "groups.render")
    assert check["status"] == "skip"
    assert "container toolkit" in check["summary"]


# ----- pciids.fresh -------------------------------------------------------------------------


# ----- in process: one finding id per reason a person or a container is refused --------------
LAPTOP = "amd_laptop_field_guide"
UDEV_FIX = "devices.udev_rule"
RELOAD = "sudo udevadm control --reload && sudo udevadm trigger"


@pytest.mark.parametrize(("name", "summary"), [
    (LAPTOP, "the device files belong to render 110, read-write for the group; alice is a "
             "member"),
    ("amd_kfd_render_different_groups", "the device files belong to video 44, render 105, "
                                        "read-write for the group; alice is a member"),
    ("amd_mi300x_8", None),
])
def test_device_files_the_group_may_open_give_no_finding(name, summary, tmp_path):
    result = judge(GroupsRender, sc.build(name, tmp_path / "root"))
    assert found(result) == ("pass", [])
    assert result.fixes == [] and result.commands == []
    if summary:
        assert result.summary == summary


def test_person_not_in_render_warns_and_offers_the_fix(tmp_path):
    def change(b: HostRootBuilder) -> None:
        gid, _ = b._groups["render"]
        b.add_group("render", gid, [])
        b.set_user("alice", 1000, 1000, [1000, 4, 24, 27, 30, 44, 46, 100, 988])
    result = judge(GroupsRender, build(tmp_path / "root", LAPTOP, change))
    assert found(result) == ("warn", ["groups.render.user_not_in_group"])
    assert result.fixes == ["groups.add_user_render"]
    assert result.summary == ("alice is not in render (110): fine for containers, but ROCm on "
                              "the host will be refused")
    assert result.commands == ["sudo usermod -aG render alice", "newgrp render"]
    assert "log out and back in" in result.remedy


def test_membership_not_yet_effective_is_noted_without_warning(tmp_path):
    def change(b: HostRootBuilder) -> None:
        b.set_user("alice", 1000, 1000, [1000, 4, 24, 27, 30, 44, 46, 100, 988])
    result = judge(GroupsRender, build(tmp_path / "root", LAPTOP, change))
    assert found(result) == ("pass", [])
    assert any("listed in render (110) in /etc/group but the session does not hold it" in line
               for line in result.evidence)


def _node(path: str, **values):
    def after(root: Path) -> None:
        edit_host_json(root, lambda doc: doc["device_nodes"][path].update(values))
    return after


def test_root_only_kfd_offers_the_udev_rule(tmp_path):
    result = judge(GroupsRender, build(tmp_path / "root", LAPTOP,
                                       after=_node("/dev/kfd", mode="0600", gid=0)))
    assert found(result) == ("warn", ["groups.render.root_only"])
    assert result.fixes == [UDEV_FIX]
    assert result.commands == [RELOAD]
    assert "/etc/udev/rules.d/70-kfd.rules" in result.remedy


def test_a_render_node_of_group_root_offers_the_render_rule(tmp_path):
    result = judge(GroupsRender, build(tmp_path / "root", LAPTOP,
                                       after=_node("/dev/dri/renderD128", mode="0660", gid=0)))
    assert found(result) == ("warn", ["groups.render.root_group"])
    assert result.summary == "/dev/dri/renderD128 belongs to group root: only root can open it"
    assert 'SUBSYSTEM=="drm", KERNEL=="renderD*"' in result.remedy
    assert result.fixes == [UDEV_FIX]


def test_a_group_that_may_only_read_is_not_enough(tmp_path):
    result = judge(GroupsRender, build(tmp_path / "root", LAPTOP,
                                       after=_node("/dev/kfd", mode="0640")))
    assert found(result) == ("warn", ["groups.render.group_not_rw"])
    assert result.summary == "/dev/kfd does not grant its group read-write (0640)"


def test_two_problems_are_two_findings_and_each_sentence_once(tmp_path):
    def change(b: HostRootBuilder) -> None:
        gid, _ = b._groups["render"]
        b.add_group("render", gid, [])
        b.set_user("alice", 1000, 1000, [1000, 4, 24, 27, 30, 44, 46, 100, 988])
    result = judge(GroupsRender, build(tmp_path / "root", LAPTOP, change,
                                       _node("/dev/kfd", mode="0640")))
    assert found(result) == ("warn", ["groups.render.group_not_rw",
                                      "groups.render.user_not_in_group"])
    assert result.fixes == [UDEV_FIX, "groups.add_user_render"]
    assert result.summary.endswith("(and 1 more problem)")
    assert result.details.count("Docker gives the container") == 1


def test_world_open_device_files_need_no_group(tmp_path):
    def after(root: Path) -> None:
        for path in ("/dev/kfd", "/dev/dri/renderD128"):
            _node(path, mode="0666", gid=0)(root)
    result = judge(GroupsRender, build(tmp_path / "root", LAPTOP, after=after))
    assert found(result) == ("pass", [])
    assert result.summary == "the device files are open to every user (mode 0666)"


def test_owners_not_captured_skip(tmp_path):
    def after(root: Path) -> None:
        edit_host_json(root, lambda doc: doc.pop("device_nodes"))
    result = judge(GroupsRender, build(tmp_path / "root", LAPTOP, after=after))
    assert found(result) == ("skip", [])
    assert result.summary.startswith("the owners of the device files are unknown")
