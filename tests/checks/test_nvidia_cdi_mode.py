"""nvidia.cdi_mode on host roots, in process: the toolkit's mode, and what makes CDI fail later
(refresh units off or behind, no spec in CDI mode, a spec too new for containerd or CRI-O, MIG
without MIG devices), each next to the host where CDI is in order."""

from __future__ import annotations

from pathlib import Path

from tests.support import nvidia_layer_roots as nr
from tests.support.check_run import result_of, verdict

ID = "nvidia.cdi_mode"
REGENERATE = "sudo nvidia-ctk cdi generate --output=/var/run/cdi/nvidia.yaml"
RESTART_REFRESH = "sudo systemctl restart nvidia-cdi-refresh.service"


def test_refresh_units_enabled_keep_the_spec_current(tmp_path: Path) -> None:
    result = result_of(nr.jit_cdi_1_18(tmp_path / "root"), ID)
    assert verdict(result) == ("pass", [])
    assert result.summary == ("the toolkit injects in jit-cdi mode; nvidia-cdi-refresh keeps "
                              "the spec current")


def test_refresh_units_installed_but_off(tmp_path: Path) -> None:
    result = result_of(nr.jit_cdi_1_18(tmp_path / "root", refresh_enabled=False), ID)
    assert verdict(result) == ("warn", [f"{ID}.refresh_disabled"])
    assert result.fixes == ["nvidia.cdi_regenerate"]
    assert result.commands == [
        "sudo systemctl enable --now nvidia-cdi-refresh.path nvidia-cdi-refresh.service"]


def test_refresh_enabled_but_the_spec_is_for_the_old_driver(tmp_path: Path) -> None:
    result = result_of(nr.jit_cdi_1_18(tmp_path / "root", spec_driver="570.86.10"), ID)
    assert verdict(result) == ("warn", [f"{ID}.refresh_behind"])
    assert "570.86.10 (loaded: 580.95.05)" in result.summary
    assert result.commands == [RESTART_REFRESH, "journalctl -u nvidia-cdi-refresh.service"]
    assert result.fixes == ["nvidia.cdi_regenerate"]


def test_cdi_mode_without_a_spec(tmp_path: Path) -> None:
    result = result_of(nr.nvidia_host(tmp_path / "root", mode="cdi").finish(), ID)
    assert verdict(result) == ("fail", [f"{ID}.no_spec"])
    assert "unresolvable CDI devices nvidia.com/gpu=all" in result.details
    assert result.commands == [REGENERATE]
    assert result.fixes == ["nvidia.cdi_regenerate"]


def test_cdi_mode_without_a_spec_where_the_refresh_unit_can_make_it(tmp_path: Path) -> None:
    root = nr.jit_cdi_1_18(tmp_path / "root")
    config = root / "etc/nvidia-container-runtime/config.toml"
    config.write_text(config.read_text().replace('mode = "auto"', 'mode = "cdi"'))
    (root / "var/run/cdi/nvidia.yaml").unlink()
    result = result_of(root, ID)
    assert verdict(result) == ("fail", [f"{ID}.no_spec"])
    assert result.commands == [REGENERATE, RESTART_REFRESH]


def test_cdi_mode_with_its_spec_passes(tmp_path: Path) -> None:
    result = result_of(nr.cdi_mode_systemd(tmp_path / "root"), ID)
    assert verdict(result) == ("pass", [])
    assert result.summary == "the toolkit injects in cdi mode"


def test_mig_enabled_without_mig_devices_in_the_spec(tmp_path: Path) -> None:
    result = result_of(nr.mig_without_mig_spec(tmp_path / "root"), ID)
    assert verdict(result) == ("warn", [f"{ID}.mig_missing"])
    assert "GPU 0" in result.summary
    assert result.commands == [REGENERATE]


def test_mig_devices_in_the_spec_are_enough(tmp_path: Path) -> None:
    root = nr.mig_without_mig_spec(tmp_path / "root")
    spec = root / "var/run/cdi/nvidia.yaml"
    spec.write_text(spec.read_text().replace('  name: "0"\n', '  name: "0:0"\n'))
    result = result_of(root, ID)
    assert verdict(result) == ("pass", []), result.evidence
    assert "nvidia-smi: MIG enabled on GPU 0" in result.evidence


def test_spec_0_7_with_old_containerd(tmp_path: Path) -> None:
    result = result_of(nr.spec_0_7_old_containerd(tmp_path / "root"), ID)
    assert verdict(result) == ("warn", [f"{ID}.spec_too_new"])
    assert "containerd 1.7.12" in result.summary
    assert "1.7.16" in result.details
    assert result.commands == [REGENERATE]


def test_spec_0_7_with_a_containerd_that_reads_it(tmp_path: Path) -> None:
    import json

    root = nr.spec_0_7_old_containerd(tmp_path / "root")
    host_json = root / ".gpudoctor/host.json"
    doc = json.loads(host_json.read_text())
    doc["commands"]["containerd-version"]["stdout"] = "containerd containerd.io 1.7.16 abc\n"
    host_json.write_text(json.dumps(doc))
    result = result_of(root, ID)
    assert verdict(result) == ("pass", [])
    assert "containerd: 1.7.16" in result.evidence


def test_docker_29_2_serves_gpus_through_cdi(tmp_path: Path) -> None:
    from tests.support import container_roots as cr

    result = result_of(cr.cdi_only(tmp_path / "root", docker_version="29.2.0"), ID)
    assert verdict(result) == ("pass", [])
    assert result.summary == ("the toolkit injects in legacy mode; Docker serves "
                              "`--gpus` through CDI")
