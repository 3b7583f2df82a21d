"""The AMD and Intel arguments, given to a real `docker run` on the test dockerd.

Device files are made with mknod at the numbers the root's sysfs and host.json state, each
`--device` points at its stand-in (`--device=TMP/node:/dev/dri/renderD129`), and a busybox
container running as a non-root user reports what it got: exactly the computed device files,
the groups, and the HSA_OVERRIDE_GFX_VERSION variables (only with --hsa-override).
"""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest

from tests.support import amd_intel_roots as roots
from tests.support.cli import report_for
from tests.support.dockerd import Dockerd

pytestmark = pytest.mark.docker

SCRIPT = r"""
for f in /dev/kfd /dev/dri/*; do
  [ -e "$f" ] && stat -c 'NODE %n|%t:%T|%g|%a' "$f"
done
echo "GROUPS $(id -G)"
env | grep '^HSA_OVERRIDE_GFX_VERSION' | sed 's/^/ENV /'
for f in /dev/kfd /dev/dri/*; do
  [ -e "$f" ] || continue
  if cat "$f" >/dev/null 2>/tmp/err; then echo "OPEN $f|ok"; else echo "OPEN $f|$(cat /tmp/err)"; fi
done
"""


def sysfs_numbers(root: Path, node: str) -> tuple[int, int]:
    """major:minor of a node as sysfs states it (/sys/class/drm/<name>/dev, kfd's dev file)."""
    name = node.rsplit("/", 1)[-1]
    dev = (root / "sys/class/kfd/kfd/dev") if name == "kfd" else (
        root / f"sys/class/drm/{name}/dev")
    major, minor = dev.read_text().strip().split(":")
    return int(major), int(minor)


def materialize(root: Path, args: list[str], folder: Path) -> list[str]:
    """mknod each --device node at sysfs's numbers with host.json's mode and group."""
    records = json.loads((root / ".gpudoctor/host.json").read_text())["device_nodes"]
    out = []
    for arg in args:
        if not arg.startswith("--device=/dev/"):
            out.append(arg)
            continue
        path = arg.split("=", 1)[1]
        major, minor = sysfs_numbers(root, path)
        rec = records[path]
        assert (rec["major"], rec["minor"]) == (major, minor)
        mode = int(rec["mode"], 8)
        stand_in = folder / path.strip("/").replace("/", "_")
        os.mknod(stand_in, stat.S_IFCHR | mode, os.makedev(major, minor))
        os.chown(stand_in, rec["uid"], rec["gid"])
        os.chmod(stand_in, mode)
        out.append(f"--device={stand_in}:{path}")
    return out


def run_in_container(daemon: Dockerd, image: str, root: Path, args: list[str],
                     folder: Path) -> dict:
    folder.mkdir()
    result = daemon.docker("run", "--rm", "--user=gpuuser", *materialize(root, args, folder),
                           image, "sh", "-c", SCRIPT)
    seen: dict = {"nodes": {}, "env": [], "groups": [], "open": {}}
    for line in result.stdout.splitlines():
        if line.startswith("NODE "):
            name, numbers, gid, mode = line[5:].split("|")
            seen["nodes"][name] = (*(int(n, 16) for n in numbers.split(":")), int(gid), mode)
        elif line.startswith("ENV "):
            seen["env"].append(line[4:])
        elif line.startswith("GROUPS "):
            seen["groups"] = [int(g) for g in line[7:].split()]
        elif line.startswith("OPEN "):
            name, outcome = line[5:].split("|", 1)
            seen["open"][name] = outcome
    return seen


def test_mixed_pair_per_gpu_overrides_reach_the_container(tmp_path, shared_dockerd,
                                                           busybox_image):
    root = roots.amd_mixed_pair(tmp_path / "root")
    args = report_for(root, "--hsa-override", "--rocm", "6.4")["docker_run_args"]
    seen = run_in_container(shared_dockerd, busybox_image, root, args, tmp_path / "nodes")
    assert sorted(seen["env"]) == ["HSA_OVERRIDE_GFX_VERSION_1=11.0.0",
                                   "HSA_OVERRIDE_GFX_VERSION_2=10.3.0"]
    assert seen["nodes"] == {"/dev/kfd": (509, 0, 992, "660"),
                             "/dev/dri/renderD128": (226, 128, 992, "660"),
                             "/dev/dri/renderD129": (226, 129, 992, "660")}
    assert 992 in seen["groups"]
    for path, outcome in seen["open"].items():
        assert "Permission denied" not in outcome, (path, outcome)


def test_single_card_gets_the_global_override_only_when_asked(tmp_path, shared_dockerd,
                                                              busybox_image):
    root = roots.amd_rx6700xt(tmp_path / "root")
    plain = report_for(root)["docker_run_args"]
    seen = run_in_container(shared_dockerd, busybox_image, root, plain, tmp_path / "plain")
    assert seen["env"] == []
    asked = report_for(root, "--hsa-override")["docker_run_args"]
    seen = run_in_container(shared_dockerd, busybox_image, root, asked, tmp_path / "asked")
    assert seen["env"] == ["HSA_OVERRIDE_GFX_VERSION=10.3.0"]
    assert set(seen["nodes"]) == {"/dev/kfd", "/dev/dri/renderD128"}


def test_arc_card_alone_reaches_the_container_with_its_render_group(tmp_path, shared_dockerd,
                                                                    busybox_image):
    root = roots.intel_arc_b580_igpu(tmp_path / "root")
    args = report_for(root)["docker_run_args"]
    seen = run_in_container(shared_dockerd, busybox_image, root, args, tmp_path / "nodes")
    assert seen["nodes"] == {"/dev/dri/renderD129": (226, 129, 993, "660")}  # not the iGPU's
    assert 993 in seen["groups"]
    outcome = seen["open"]["/dev/dri/renderD129"]
    assert "Permission denied" not in outcome
    assert "No such device or address" in outcome  # past the permission check; no GPU here
