"""docker.cgroupfs_driver: `"exec-opts": ["native.cgroupdriver=cgroupfs"]` spliced into
daemon.json (every other key kept) with the restart it needs, planned on host roots in process;
refused for rootless Docker. It is also applied to a real dockerd in
tests/test_nvidia_layer_docker.py."""

from __future__ import annotations

from pathlib import Path

from tests.support import container_roots as cr
from tests.support import nvidia_layer_roots as nr
from tests.support.fix_plan import plan_text

FIX = "docker.cgroupfs_driver"



def test_cgroupfs_plan_splices_exec_opts_and_restarts(tmp_path: Path) -> None:
    out = plan_text(nr.legacy_systemd_exposed(tmp_path / "root"), FIX, "docker.reload")
    assert '+    "exec-opts": [' in out and '+        "native.cgroupdriver=cgroupfs"' in out
    assert '         "path": "nvidia-container-runtime"' in out  # the person's keys stay
    assert '`"exec-opts": ["native.cgroupdriver=cgroupfs"]`' in out
    assert "the cgroup driver (`exec-opts`) is read only when dockerd starts" in out
    assert "interrupts running containers: yes" in out


def test_cgroupfs_is_refused_for_rootless_docker(tmp_path: Path) -> None:
    out = plan_text(cr.rootless_docker(tmp_path / "root"), FIX)
    assert "rootless Docker needs the systemd cgroup driver" in out


def test_cgroupfs_leaves_a_daemon_json_that_is_not_an_object_alone(tmp_path: Path) -> None:
    root = nr.legacy_systemd_exposed(tmp_path / "root")
    daemon_json = root / "etc/docker/daemon.json"
    daemon_json.write_text('["not", "an", "object"]\n')
    out = plan_text(root, FIX)
    assert "gpudoctor never overwrites a file it cannot parse" in out
    assert "make its top level a JSON object" in out and "line None" not in out
    assert daemon_json.read_text() == '["not", "an", "object"]\n'
