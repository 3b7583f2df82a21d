"""groups.render on the issue's host roots and variants.

Every report comes from a real `gpudoctor --json --root` run, validated against the schema.
"""

from __future__ import annotations

from pathlib import Path

from tests.support.check_roots import edit_host_json, variant
from tests.support.cli import check_of
from tests.support.hostroot import HostRootBuilder


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


def test_person_not_in_render_warns_and_offers_the_fix(tmp_path):
    def change(b: HostRootBuilder) -> None:
        gid, _ = b._groups["render"]
        b.add_group("render", gid, [])
        b.set_user("alice", 1000, 1000, [1000, 4, 24, 27, 30, 44, 46, 100, 988])
    check = check_of(variant(tmp_path, "amd_laptop_field_guide", change), "groups.render")
    assert check["status"] == "warn"
    assert check["fixes"] == ["groups.add_user_render"]
    assert "alice is not in render (110)" in check["summary"]
    assert "fine for containers" in check["summary"]
    assert "`sudo usermod -aG render alice`" in check["remedy"]
    assert "log out and back in" in check["remedy"]


def test_membership_not_yet_effective_is_noted_without_warning(tmp_path):
    def change(b: HostRootBuilder) -> None:
        b.set_user("alice", 1000, 1000, [1000, 4, 24, 27, 30, 44, 46, 100, 988])
    check = check_of(variant(tmp_path, "amd_laptop_field_guide", change), "groups.render")
    assert check["status"] == "pass"
    assert any("listed in render (110) in /etc/group but the session does not hold it" in line
               for line in check["evidence"])


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
