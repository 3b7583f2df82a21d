"""containerd.configure_nvidia_runtime: the nvidia runtime declared in a drop-in that config.toml
imports, planned on host roots in process (shown, never applied). What a real containerd loads
from the written files, and the refusal of a broken one, are tested on a private containerd in
tests/test_engines_live.py."""

from __future__ import annotations

from pathlib import Path

from tests.support import engine_roots as er
from tests.support.fix_plan import plan_text

FIX = "containerd.configure_nvidia_runtime"



def test_containerd_fix_plan_on_a_root_shows_the_dropin_and_changes_nothing(
        tmp_path: Path) -> None:
    root = er.k8s_containerd17(tmp_path / "root")
    before = (root / "etc/containerd/config.toml").read_bytes()
    out = plan_text(root, FIX)
    flat = " ".join(out.split())
    assert "+++ /etc/containerd/conf.d/99-nvidia.toml" in out
    assert '+imports = ["/etc/containerd/conf.d/*.toml"]' in out
    assert "BinaryName = \"/usr/bin/nvidia-container-runtime\"" in out
    assert "complete `io.containerd.grpc.v1.cri` section" in flat
    assert (root / "etc/containerd/config.toml").read_bytes() == before
    assert not (root / "etc/containerd/conf.d").exists()


def test_containerd_2_fix_plan_writes_only_the_runtime(tmp_path: Path) -> None:
    root = er.k8s_containerd2(tmp_path / "root", dropin=False)
    out = plan_text(root, FIX)
    added = [line.strip()[1:] for line in out.splitlines()
             if line.strip().startswith("+") and not line.strip().startswith("+++")]
    assert "version = 3" in added
    assert '[plugins."io.containerd.cri.v1.runtime".containerd.runtimes.nvidia]' in added
    assert not any("runtimes.runc" in line for line in added)  # version 3 merges key by key
    # config.toml already imports conf.d/*.toml: only the drop-in is written
    assert "+++ /etc/containerd/config.toml" not in out
