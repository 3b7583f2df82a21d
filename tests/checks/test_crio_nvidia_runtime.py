"""crio.nvidia_runtime on host roots, in process: CRI-O's merged configuration (crio.conf and
every file in crio.conf.d) declares the nvidia runtime, as the default on a node, with no
leftover file undoing it; each broken node next to the healthy one."""

from __future__ import annotations

from pathlib import Path

from tests.support import engine_roots as er
from tests.support.check_run import diagnose, result_of, verdict

ID = "crio.nvidia_runtime"
CONFIGURE = ("sudo nvidia-ctk runtime configure --runtime=crio "
             "--config=/etc/crio/crio.conf.d/99-nvidia.toml")
RESTART = "sudo systemctl restart crio"


def _default_nvidia(root: Path) -> Path:
    er.write_into(root, "/etc/crio/crio.conf.d/10-crun.conf",
           '[crio.runtime]\ndefault_runtime = "nvidia"\n')
    return root


def test_crio_node_without_the_nvidia_dropin(tmp_path: Path) -> None:
    facts, results = diagnose(er.k8s_crio(tmp_path / "root"))
    assert [(e.name, e.version, e.in_use) for e in facts.engines] == [("cri-o", "1.30.3", True)]
    result = results[ID]
    assert verdict(result) == ("fail", [f"{ID}.not_declared"])
    assert result.fixes == ["crio.configure_nvidia_runtime", "crio.restart"]
    assert result.commands == [CONFIGURE, RESTART]


def test_declared_but_not_the_default_on_a_node(tmp_path: Path) -> None:
    result = result_of(er.k8s_crio(tmp_path / "root", dropin=True), ID)
    assert verdict(result) == ("warn", [f"{ID}.not_default"])  # the plugin's pods use crun
    assert result.summary == "CRI-O's default runtime is crun, not nvidia"
    assert result.commands == [f"{CONFIGURE} --set-as-default", RESTART]
    assert any("nvidia (/usr/bin/nvidia-container-runtime, from "
               "/etc/crio/crio.conf.d/99-nvidia.toml)" in e for e in result.evidence)


def test_declared_as_the_default_passes(tmp_path: Path) -> None:
    result = result_of(_default_nvidia(er.k8s_crio(tmp_path / "root", dropin=True)), ID)
    assert verdict(result) == ("pass", [])
    assert result.summary == "CRI-O declares the nvidia runtime (/usr/bin/nvidia-container-runtime)"


def test_a_dropin_in_a_folder_crio_never_reads(tmp_path: Path) -> None:
    """Toolkit 1.18 - 1.19.0 wrote CRI-O's drop-in to /etc/crio/conf.d (never read)."""
    root = er.k8s_crio(tmp_path / "crio")
    er.write_into(root, "/etc/crio/conf.d/99-nvidia.toml", er.CRIO_NVIDIA_DROPIN)
    result = result_of(root, ID)
    assert verdict(result) == ("fail", [f"{ID}.dropin_ignored"])
    assert result.commands == ["sudo mv /etc/crio/conf.d/99-nvidia.toml /etc/crio/crio.conf.d/",
                               RESTART]


def test_crio_reads_every_file_in_its_dropin_folder(tmp_path: Path) -> None:
    root = _default_nvidia(er.k8s_crio(tmp_path / "root", dropin=True))
    er.write_into(root, "/etc/crio/crio.conf.d/99-nvidia.toml.bak", "[crio.runtime]\n")
    result = result_of(root, ID)
    assert verdict(result) == ("warn", [f"{ID}.leftover_file"])
    assert "/etc/crio/crio.conf.d/99-nvidia.toml.bak: read" in result.evidence
    assert result.commands == ["sudo mv /etc/crio/crio.conf.d/99-nvidia.toml.bak /root/"]


def test_a_dropin_that_is_not_toml(tmp_path: Path) -> None:
    root = er.k8s_crio(tmp_path / "root", dropin=True)
    er.write_into(root, "/etc/crio/crio.conf.d/10-crun.conf", "[crio.runtime\n")
    result = result_of(root, ID)
    assert verdict(result) == ("fail", [f"{ID}.bad_toml"])
    assert result.summary == "/etc/crio/crio.conf.d/10-crun.conf is not valid TOML"


def test_a_runtime_path_that_does_not_exist(tmp_path: Path) -> None:
    root = _default_nvidia(er.k8s_crio(tmp_path / "root", dropin=True))
    (root / "usr/bin/nvidia-container-runtime").unlink()
    result = result_of(root, ID)
    assert verdict(result) == ("fail", [f"{ID}.binary_missing"])
    assert result.fixes == ["nvidia.install_toolkit"]
