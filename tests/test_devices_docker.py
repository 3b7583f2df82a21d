"""The computed arguments, given to a real `docker run` on the test dockerd.

For each host root, the device files the arguments name are made with mknod in a temporary
folder (the root's major:minor, mode and group from its host.json), each --device is pointed
at its stand-in (`--device=TMP/node:/dev/dri/renderD128`), and a busybox container as a
non-root user shows what it got: exactly those device files, as character devices with the
right numbers, and the groups it was given, which let it past the permission check (opening a
device whose driver this machine lacks ends in ENXIO, not EACCES).
"""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest

from tests.support import scenarios as sc
from tests.support.cli import report_for
from tests.support.dockerd import Dockerd

pytestmark = pytest.mark.docker

SCRIPT = r"""
for f in /dev/kfd /dev/dri/*; do
  [ -e "$f" ] && stat -c 'NODE %n|%F|%t:%T|%g|%a' "$f"
done
echo "GROUPS $(id -G)"
for f in /dev/kfd /dev/dri/*; do
  [ -e "$f" ] || continue
  if cat "$f" >/dev/null 2>/tmp/err; then echo "OPEN $f|ok"; else echo "OPEN $f|$(cat /tmp/err)"; fi
done
"""


def materialize(root: Path, args: list[str], folder: Path) -> list[str]:
    """mknod each --device=PATH's node in `folder`; return args with host:container paths."""
    nodes = json.loads((root / ".gpudoctor/host.json").read_text())["device_nodes"]
    rewritten = []
    for arg in args:
        if not arg.startswith("--device=/dev/"):
            rewritten.append(arg)
            continue
        path = arg.split("=", 1)[1]
        record = nodes[path]
        assert record["type"] == "char"
        mode = int(record["mode"], 8)
        stand_in = folder / path.strip("/").replace("/", "_")
        os.mknod(stand_in, stat.S_IFCHR | mode, os.makedev(record["major"], record["minor"]))
        os.chown(stand_in, record["uid"], record["gid"])
        os.chmod(stand_in, mode)
        rewritten.append(f"--device={stand_in}:{path}")
    return rewritten


def run_container(daemon: Dockerd, image: str, args: list[str]) -> dict:
    result = daemon.docker("run", "--rm", "--user=gpuuser", *args, image, "sh", "-c", SCRIPT)
    seen: dict = {"nodes": {}, "open": {}, "groups": []}
    for line in result.stdout.splitlines():
        if line.startswith("NODE "):
            name, kind, numbers, gid, mode = line[5:].split("|")
            major, minor = (int(n, 16) for n in numbers.split(":"))
            seen["nodes"][name] = (kind, major, minor, int(gid), mode)
        elif line.startswith("GROUPS "):
            seen["groups"] = [int(g) for g in line[7:].split()]
        elif line.startswith("OPEN "):
            name, outcome = line[5:].split("|", 1)
            seen["open"][name] = outcome
    return seen


def expected_nodes(root: Path, args: list[str]) -> dict:
    nodes = json.loads((root / ".gpudoctor/host.json").read_text())["device_nodes"]
    wanted = {}
    for arg in args:
        if arg.startswith("--device=/dev/"):
            path = arg.split("=", 1)[1]
            rec = nodes[path]
            wanted[path] = ("character special file", rec["major"], rec["minor"], rec["gid"],
                            rec["mode"].lstrip("0"))
    return wanted


@pytest.mark.parametrize("name", [
    "amd_laptop_field_guide", "amd_kfd_render_different_groups", "amd_desktop_two_7900xtx_igpu",
    "amd_mi300x_partitioned",
])
def test_container_gets_exactly_the_computed_devices_and_groups(
        name, tmp_path, shared_dockerd, busybox_image):
    root = sc.build(name, tmp_path / "root")
    args = report_for(root)["docker_run_args"]
    gids = [int(a.split("=", 1)[1]) for a in args if a.startswith("--group-add=")]
    assert gids, "these roots all need a --group-add"
    stand_ins = tmp_path / "nodes"
    stand_ins.mkdir()
    seen = run_container(shared_dockerd, busybox_image, materialize(root, args, stand_ins))
    assert seen["nodes"] == expected_nodes(root, args)
    for gid in gids:
        assert gid in seen["groups"]
    for path, outcome in seen["open"].items():
        assert "Permission denied" not in outcome, (path, outcome)
        assert "No such device or address" in outcome, (path, outcome)


def test_the_igpu_render_node_stays_out_of_the_container(tmp_path, shared_dockerd,
                                                          busybox_image):
    root = sc.amd_laptop_field_guide(tmp_path / "root")
    args = report_for(root)["docker_run_args"]
    stand_ins = tmp_path / "nodes"
    stand_ins.mkdir()
    seen = run_container(shared_dockerd, busybox_image, materialize(root, args, stand_ins))
    assert sorted(seen["nodes"]) == ["/dev/dri/renderD128", "/dev/kfd"]
    assert seen["nodes"]["/dev/kfd"] == ("character special file", 235, 0, 110, "660")


def test_without_the_group_adds_a_non_root_user_is_refused(tmp_path, shared_dockerd,
                                                           busybox_image):
    """The control: the same nodes without --group-add give EACCES, so the GIDs matter."""
    root = sc.amd_kfd_render_different_groups(tmp_path / "root")
    args = [a for a in report_for(root)["docker_run_args"] if not a.startswith("--group-add")]
    stand_ins = tmp_path / "nodes"
    stand_ins.mkdir()
    seen = run_container(shared_dockerd, busybox_image, materialize(root, args, stand_ins))
    assert set(seen["open"]) == {"/dev/kfd", "/dev/dri/renderD128"}
    assert all("Permission denied" in outcome for outcome in seen["open"].values())
    assert 44 not in seen["groups"] and 105 not in seen["groups"]
