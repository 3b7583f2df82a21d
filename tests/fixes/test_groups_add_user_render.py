"""groups.add_user_render: the person joins the groups that own /dev/kfd and the render nodes.

On the live test machine: real groups and a real user made for the test, device nodes made with
mknod, `usermod` really run, /etc/group read back; everything is removed afterwards. On a host
root: kfd and the render node in different groups, a node only root's group can open.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from tests.support.cli import run_gpudoctor
from tests.support.hostroot import HostRootBuilder

FIX = "groups.add_user_render"
USER = "gdtest-person"
KFD_GROUP, RENDER_GROUP = "gdtest-kfd", "gdtest-render"



def members(group: str) -> list[str]:
    for line in Path("/etc/group").read_text().splitlines():
        parts = line.split(":")
        if parts[0] == group:
            return [m for m in parts[3].split(",") if m]
    raise AssertionError(f"no group {group}")


def gid_of(group: str) -> int:
    for line in Path("/etc/group").read_text().splitlines():
        parts = line.split(":")
        if parts[0] == group:
            return int(parts[2])
    raise AssertionError(f"no group {group}")


@pytest.fixture
def live_nodes():
    """A test user, two groups, /dev/kfd and /dev/dri/renderD128 made with mknod."""
    created: list[Path] = []
    made_dri = False
    for path in ("/dev/kfd", "/dev/dri/renderD128"):
        assert not os.path.exists(path), f"{path} exists on the test machine; refusing to touch it"
    subprocess.run(["groupadd", "--system", KFD_GROUP], check=True)
    subprocess.run(["groupadd", "--system", RENDER_GROUP], check=True)
    subprocess.run(["useradd", "--no-create-home", "--shell", "/usr/sbin/nologin", USER],
                   check=True)
    try:
        if not os.path.isdir("/dev/dri"):
            os.mkdir("/dev/dri", 0o755)
            made_dri = True
        for path, major, minor, group in (("/dev/kfd", 234, 0, KFD_GROUP),
                                          ("/dev/dri/renderD128", 226, 128, RENDER_GROUP)):
            os.mknod(path, 0o660 | 0o020000, os.makedev(major, minor))
            created.append(Path(path))
            os.chown(path, 0, gid_of(group))
            os.chmod(path, 0o660)
        yield
    finally:
        for path in created:
            path.unlink(missing_ok=True)
        if made_dri:
            os.rmdir("/dev/dri")
        subprocess.run(["userdel", USER], check=False)
        subprocess.run(["groupdel", KFD_GROUP], check=False)
        subprocess.run(["groupdel", RENDER_GROUP], check=False)


@pytest.mark.machine
def test_the_person_joins_both_groups_and_a_second_run_does_nothing(live_nodes):
    run = run_gpudoctor("fix", FIX, "--yes", env={"SUDO_USER": USER})
    assert run.returncode == 0, run.stdout + run.stderr
    assert f"usermod -aG {KFD_GROUP},{RENDER_GROUP} {USER}" in run.stdout
    assert "owns /dev/kfd" in run.stdout and "owns /dev/dri/renderD128" in run.stdout
    assert "at the next login" in run.stdout
    assert USER in members(KFD_GROUP) and USER in members(RENDER_GROUP)
    again = run_gpudoctor("fix", FIX, "--yes", env={"SUDO_USER": USER})
    assert again.returncode == 0
    assert f"nothing to do: {USER} is already in {KFD_GROUP}" in again.stdout
    assert members(KFD_GROUP) == [USER]


@pytest.mark.machine
def test_root_without_sudo_user_cannot_tell_whom_to_add(live_nodes):
    run = run_gpudoctor("fix", FIX, "--yes", env={"SUDO_USER": ""})
    assert run.returncode == 1
    assert "without SUDO_USER" in run.stdout
    assert USER not in members(KFD_GROUP)


def test_a_host_root_with_kfd_and_render_in_different_groups(tmp_path):
    b = HostRootBuilder(tmp_path / "root")
    b.set_kernel()
    b.set_os_release("Debian GNU/Linux 12 (bookworm)", "debian", "12")
    for name, gid in (("root", 0), ("video", 44), ("render", 105), ("alice", 1000)):
        b.add_group(name, gid)
    b.add_user("root", 0, 0)
    b.add_user("alice", 1000, 1000)
    b.set_user("alice", 1000, 1000, [1000])
    b.add_device_node("/dev/kfd", major=234, gid=44)
    b.add_device_node("/dev/dri/renderD128", major=226, minor=128, gid=105)
    b.add_device_node("/dev/dri/renderD129", major=226, minor=129, gid=0)
    b.write("/usr/sbin/usermod", "#!/bin/sh\n", mode=0o755)
    root = b.finish()
    run = run_gpudoctor("fix", FIX, "--root", root)
    out = " ".join(run.stdout.split())
    assert "/usr/sbin/usermod -aG render,video alice" in out
    assert "render (owns /dev/dri/renderD128), video (owns /dev/kfd)" in out
    assert "/dev/dri/renderD129 belongs to group root" in out
    assert "at the next login" in out
    assert "Not applied:" in out
