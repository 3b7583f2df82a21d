"""containerd.nvidia_runtime on host roots, in process: the configuration containerd really
loads (config.toml plus imports, merged as that version merges them) and what a Kubernetes
node needs from it, each broken node next to the healthy one. The real containerd proves the
merge rules in tests/test_engines_live.py."""

from __future__ import annotations

import os
from pathlib import Path

from tests.support import engine_roots as er
from tests.support.check_run import diagnose, result_of, verdict

ID = "containerd.nvidia_runtime"
FIXES = ["containerd.configure_nvidia_runtime", "containerd.restart"]
CONFIGURE = ("sudo nvidia-ctk runtime configure --runtime=containerd "
             "--config=/etc/containerd/config.toml")
RESTART = "sudo systemctl restart containerd"


def _edit(path: Path, text: str) -> None:
    """Rewrite a config as it was before containerd started (keeps the file's time)."""
    st = path.stat()
    path.write_text(text)
    os.utime(path, (st.st_atime, st.st_mtime))


def test_kubelet_node_without_nvidia_runtime(tmp_path: Path) -> None:
    facts, results = diagnose(er.k8s_containerd17(tmp_path / "root"))
    assert [(e.name, e.version, e.in_use, e.mode) for e in facts.engines] == [
        ("containerd", "1.7.27", True, "kubelet")]
    result = results[ID]
    assert verdict(result) == ("fail", [f"{ID}.not_declared"])
    assert result.fixes == FIXES
    assert result.commands == [CONFIGURE, RESTART]


def test_kubelet_node_with_nvidia_as_default_passes(tmp_path: Path) -> None:
    result = result_of(er.k8s_containerd17(tmp_path / "root", "main"), ID)
    assert verdict(result) == ("pass", [])
    assert result.summary == ("containerd declares the nvidia runtime "
                              "(/usr/bin/nvidia-container-runtime)")
    assert "SystemdCgroup: runc True, nvidia True" in result.evidence


def test_nvidia_declared_but_not_the_default_on_a_node(tmp_path: Path) -> None:
    root = er.k8s_containerd17(tmp_path / "root", "main")
    config = root / "etc/containerd/config.toml"
    _edit(config, config.read_text().replace('default_runtime_name = "nvidia"',
                                             'default_runtime_name = "runc"'))
    result = result_of(root, ID)
    assert verdict(result) == ("warn", [f"{ID}.not_default"])
    assert result.commands == [f"{CONFIGURE} --set-as-default", RESTART]
    assert result.fixes == FIXES


def test_a_runtime_only_dropin_makes_containerd_1_forget_runc(tmp_path: Path) -> None:
    result = result_of(er.k8s_containerd17(tmp_path / "root", "dropin-only"), ID)
    assert result.status.value == "fail"
    assert result.findings[0] == f"{ID}.dropin_drops_runtimes"
    assert result.summary.startswith("/etc/containerd/conf.d/99-nvidia.toml replaces "
                                     "containerd's whole CRI section, dropping runc")
    assert FIXES[0] in result.fixes


def test_containerd_2_merges_its_dropin_key_by_key(tmp_path: Path) -> None:
    result = result_of(er.k8s_containerd2(tmp_path / "ok"), ID)
    assert verdict(result) == ("pass", [])
    assert any("config version 3, CRI plugin `io.containerd.cri.v1.runtime`" in e
               for e in result.evidence)
    assert any("nvidia (/usr/bin/nvidia-container-runtime), runc (runc); default nvidia" in e
               for e in result.evidence)
    missing = result_of(er.k8s_containerd2(tmp_path / "bad", dropin=False), ID)
    assert verdict(missing) == ("fail", [f"{ID}.not_declared"])


def test_systemd_cgroup_must_match_runc_and_the_kubelet(tmp_path: Path) -> None:
    root = er.k8s_containerd17(tmp_path / "root", "main")
    config = root / "etc/containerd/config.toml"
    text = config.read_text()
    nvidia_at = text.index("runtimes.nvidia.options]")
    _edit(config, text[:nvidia_at] + text[nvidia_at:].replace("SystemdCgroup = true",
                                                              "SystemdCgroup = false"))
    result = result_of(root, ID)
    assert verdict(result) == ("fail", [f"{ID}.systemd_cgroup_mismatch",
                                        f"{ID}.kubelet_cgroup_mismatch"])
    assert "SystemdCgroup is True for runc but False for nvidia" in result.summary
    assert result.fixes == FIXES


def test_a_disabled_cri_plugin_on_a_kubelet_node(tmp_path: Path) -> None:
    root = er.k8s_containerd17(tmp_path / "root", "main")
    config = root / "etc/containerd/config.toml"
    _edit(config, config.read_text().replace("disabled_plugins = []",
                                             'disabled_plugins = ["cri"]'))
    result = result_of(root, ID)
    assert verdict(result) == ("fail", [f"{ID}.cri_disabled"])
    assert result.commands == [RESTART]


def test_config_changed_after_containerd_started_needs_a_restart(tmp_path: Path) -> None:
    root = er.k8s_containerd17(tmp_path / "root", "main")
    later = er.STARTED + 3600
    os.utime(root / "etc/containerd/config.toml", (later, later))
    result = result_of(root, ID)
    assert verdict(result) == ("warn", [f"{ID}.restart_needed"])
    assert result.fixes == ["containerd.restart"]
    assert result.commands == [RESTART]


def test_a_dropin_in_a_folder_containerd_does_not_import(tmp_path: Path) -> None:
    """Toolkit 1.18.0 wrote containerd's drop-in to config.d (not imported)."""
    root = er.k8s_containerd17(tmp_path / "ctd")
    er.write_into(root, "/etc/containerd/config.d/99-nvidia.toml", er.NVIDIA_DROPIN_V2)
    result = result_of(root, ID)
    assert verdict(result) == ("fail", [f"{ID}.dropin_not_imported"])
    assert "/etc/containerd/config.d/99-nvidia.toml" in result.summary
    assert result.commands == [CONFIGURE, RESTART]


def test_a_config_that_is_not_toml(tmp_path: Path) -> None:
    root = er.k8s_containerd17(tmp_path / "root", "main")
    _edit(root / "etc/containerd/config.toml", "version = 2\n[plugins\n")
    result = result_of(root, ID)
    assert verdict(result) == ("fail", [f"{ID}.bad_toml"])
    assert result.summary == "/etc/containerd/config.toml is not valid TOML"


def test_a_runtime_binary_that_does_not_exist(tmp_path: Path) -> None:
    root = er.k8s_containerd17(tmp_path / "root", "main")
    (root / "usr/bin/nvidia-container-runtime").unlink()
    result = result_of(root, ID)
    assert verdict(result) == ("fail", [f"{ID}.binary_missing"])
    assert result.fixes == ["nvidia.install_toolkit"]


def test_a_dropin_that_keeps_the_runtimes_still_loses_the_other_settings(tmp_path: Path) -> None:
    root = er.k8s_containerd17(tmp_path / "root", "dropin-only")
    runc = (f"\n        [{er.CRI2}.containerd.runtimes.runc]\n"
            "          runtime_type = \"io.containerd.runc.v2\"\n\n"
            f"          [{er.CRI2}.containerd.runtimes.runc.options]\n"
            "            SystemdCgroup = true\n")
    dropin = root / "etc/containerd/conf.d/99-nvidia.toml"
    _edit(dropin, dropin.read_text() + runc)
    result = result_of(root, ID)
    assert result.findings[0] == f"{ID}.dropin_drops_runtimes"
    assert "setting(s) of /etc/containerd/config.toml are lost" in result.summary
    assert "sandbox_image" in result.details
    lost_runc = result_of(er.k8s_containerd17(tmp_path / "lost", "dropin-only"), ID)
    assert "dropping runc and" in lost_runc.summary
    assert "Its other settings are gone too: sandbox_image" in lost_runc.details
