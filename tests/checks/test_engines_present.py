"""engines.present on host roots, in process: which engines a host has and which one is in
use (Docker, Podman, containerd under a kubelet, CRI-O), and a host with none."""

from __future__ import annotations

from pathlib import Path

from tests.support import container_roots as cr
from tests.support import engine_roots as er
from tests.support.check_run import result_of, verdict

ID = "engines.present"


def test_podman_only(tmp_path: Path) -> None:
    result = result_of(er.podman_nvidia(tmp_path / "root"), ID)
    assert verdict(result) == ("pass", [])
    assert result.summary == "podman 4.3.1 (in use)"
    assert "In use: podman" in result.details


def test_docker_with_docker_s_containerd(tmp_path: Path) -> None:
    root = cr.nvidia_all_good(tmp_path / "root")
    (root / "usr/bin/containerd").write_text("#!/bin/sh\n")
    (root / "usr/bin/containerd").chmod(0o755)
    result = result_of(root, ID)
    assert verdict(result) == ("pass", [])
    assert result.summary.startswith("docker ")
    assert "(in use)" in result.summary and ", containerd" in result.summary
    assert any(e.startswith("containerd ") and "Docker's containerd" in e
               for e in result.evidence)


def test_kubelet_node_names_the_kubelet_s_runtime(tmp_path: Path) -> None:
    result = result_of(er.k8s_crio(tmp_path / "root"), ID)
    assert result.summary == "cri-o 1.30.3 (in use)"
    assert any(e.startswith("kubelet 1.30.4: runtime endpoint unix:///var/run/crio/crio.sock")
               for e in result.evidence)


def test_a_standalone_containerd_is_the_engine_in_use(tmp_path: Path) -> None:
    r = er.nvidia_host(tmp_path / "root")
    er.containerd(r, "1.7.27", "1.7.27-1", er.CONTAINERD_17_DEFAULT)
    result = result_of(r.finish(), ID)
    assert verdict(result) == ("pass", [])
    assert result.summary == "containerd 1.7.27 (in use)"


def test_no_engine_at_all_is_skipped(tmp_path: Path) -> None:
    result = result_of(er.nvidia_host(tmp_path / "root").finish(), ID)
    assert verdict(result) == ("skip", [])
    assert result.summary.startswith("no container engine is installed")
