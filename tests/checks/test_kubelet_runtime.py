"""kubelet.runtime on host roots, in process: the runtime the kubelet talks to is installed
and running, next to the node where it is."""

from __future__ import annotations

import json
from pathlib import Path

from tests.support import engine_roots as er
from tests.support.check_roots import edit_host_json
from tests.support.check_run import result_of, verdict

ID = "kubelet.runtime"


def _endpoint(root: Path, endpoint: str) -> Path:
    """The kubelet pointed at `endpoint` (kubeadm-flags.env; the command line drops it)."""
    (root / "var/lib/kubelet/kubeadm-flags.env").write_text(
        f'KUBELET_KUBEADM_ARGS="--container-runtime-endpoint={endpoint}"\n')
    doc = json.loads((root / ".gpudoctor/host.json").read_text())
    for proc in doc["processes"]:
        if proc["name"] == "kubelet":
            proc["cmdline"] = [a for a in proc["cmdline"]
                               if not a.startswith("--container-runtime-endpoint")]
    (root / ".gpudoctor/host.json").write_text(json.dumps(doc))
    return root


def test_kubelet_on_containerd(tmp_path: Path) -> None:
    result = result_of(er.k8s_containerd17(tmp_path / "root"), ID)
    assert verdict(result) == ("pass", [])
    assert result.summary == ("the kubelet uses containerd "
                              "(unix:///var/run/containerd/containerd.sock)")
    assert any("kubeadm-flags.env" in e for e in result.evidence)


def test_kubelet_pointing_at_a_runtime_that_is_not_there(tmp_path: Path) -> None:
    root = _endpoint(er.k8s_containerd17(tmp_path / "root", "main"),
                     "unix:///var/run/crio/crio.sock")
    result = result_of(root, ID)
    assert verdict(result) == ("fail", [f"{ID}.missing"])
    assert "cri-o, which is not installed" in result.summary


def test_kubelet_runtime_installed_but_not_running(tmp_path: Path) -> None:
    root = er.k8s_containerd17(tmp_path / "root", "main")
    edit_host_json(root, lambda doc: doc.__setitem__(
        "processes", [p for p in doc["processes"] if p["name"] != "containerd"]))
    result = result_of(root, ID)
    assert verdict(result) == ("fail", [f"{ID}.not_running"])
    assert result.commands == ["sudo systemctl start containerd"]


def test_kubelet_through_cri_dockerd(tmp_path: Path) -> None:
    root = _endpoint(er.k8s_containerd17(tmp_path / "root", "main"),
                     "unix:///var/run/cri-dockerd.sock")
    assert verdict(result_of(root, ID)) == ("warn", [f"{ID}.cri_dockerd"])


def test_kubelet_on_an_endpoint_nobody_knows(tmp_path: Path) -> None:
    root = _endpoint(er.k8s_containerd17(tmp_path / "root", "main"),
                     "unix:///run/some-runtime.sock")
    result = result_of(root, ID)
    assert verdict(result) == ("warn", [f"{ID}.unknown_endpoint"])
    assert "unix:///run/some-runtime.sock" in result.summary
