"""containerd.restart: planned on a Kubernetes node's host root in process, after the runtime is
declared: the restart through systemd and what it means for the node's pods. Refusing a
hand-started containerd, prevalidation and the roll-back when containerd does not come back are
tested on a private containerd in tests/test_engines_live.py."""

from __future__ import annotations

from pathlib import Path

from tests.support import engine_roots as er
from tests.support.fix_plan import plan_text


def test_restart_on_a_kubernetes_node_warns_about_new_pods(tmp_path: Path) -> None:
    root = er.k8s_containerd17(tmp_path / "root")
    out = plan_text(root, "containerd.configure_nvidia_runtime", "containerd.restart")
    flat = " ".join(out.split())
    assert "Kubernetes node" in flat and "new pods" in flat
    assert "systemctl restart containerd" in flat
