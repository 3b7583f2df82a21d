"""podman.cdi on host roots, in process: Podman's CDI side for NVIDIA (spec present, readable,
in a format this Podman parses, pointing at files that exist, no legacy hook beside it) and
keep-groups for AMD/Intel rootless, each next to the host where Podman gives the GPUs."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support import engine_roots as er
from tests.support.check_run import diagnose, result_of, verdict

ID = "podman.cdi"


def test_podman_with_a_spec_gives_the_gpus(tmp_path: Path) -> None:
    result = result_of(er.podman_nvidia(tmp_path / "root"), ID)
    assert verdict(result) == ("pass", [])
    assert result.summary == ("Podman 4.3.1 can give the GPUs: podman run "
                              "--device=nvidia.com/gpu=all")


def test_podman_without_a_spec_fails_with_the_generate_command(tmp_path: Path) -> None:
    result = result_of(er.podman_nvidia_no_spec(tmp_path / "root"), ID)
    assert verdict(result) == ("fail", [f"{ID}.no_spec"])
    assert "unresolvable CDI devices nvidia.com/gpu=all" in result.details
    assert result.commands == ["sudo nvidia-ctk cdi generate --output=/etc/cdi/nvidia.yaml"]


@pytest.mark.parametrize(("version", "status"), [("4.9.3", "fail"), ("5.2.2", "pass")])
def test_cdi_0_7_0_spec_needs_podman_5_1(tmp_path: Path, version: str, status: str) -> None:
    result = result_of(er.podman_nvidia(tmp_path / "root", version=version,
                                        cdi_version="0.7.0"), ID)
    if status == "fail":
        assert verdict(result) == ("fail", [f"{ID}.spec_too_new"])
        assert "CDI 0.7.0, which Podman 4.9.3 cannot read" in result.summary
        assert "additionalGids" in result.details
    else:
        assert verdict(result) == ("pass", [])


def test_podman_before_4_1_has_no_cdi(tmp_path: Path) -> None:
    result = result_of(er.podman_nvidia(tmp_path / "root", version="3.4.4"), ID)
    assert verdict(result) == ("fail", [f"{ID}.too_old"])
    assert "stat nvidia.com/gpu=all: no such file or directory" in result.details


def test_legacy_oci_hook_is_a_warning_beside_cdi(tmp_path: Path) -> None:
    result = result_of(er.podman_nvidia(tmp_path / "root", legacy_hook=True), ID)
    assert verdict(result) == ("warn", [f"{ID}.legacy_hook"])
    assert result.commands == ["sudo rm /usr/share/containers/oci/hooks.d/oci-nvidia-hook.json"]


def test_a_spec_for_another_driver(tmp_path: Path) -> None:
    root = er.podman_nvidia(tmp_path / "root")
    spec = root / "etc/cdi/nvidia.yaml"
    spec.write_text(spec.read_text().replace("580.95.05", "570.86.10"))
    result = result_of(root, ID)
    assert verdict(result) == ("fail", [f"{ID}.stale_spec"])
    assert result.commands == ["sudo nvidia-ctk cdi generate --output=/etc/cdi/nvidia.yaml"]


def test_containers_conf_that_is_not_toml(tmp_path: Path) -> None:
    root = er.podman_nvidia(tmp_path / "root")
    er.write_into(root, "/etc/containers/containers.conf", "[engine\nruntime = crun\n")
    result = result_of(root, ID)
    assert verdict(result) == ("fail", [f"{ID}.bad_conf"])
    assert result.summary == "/etc/containers/containers.conf is not valid TOML"


def test_rootless_podman_keeps_groups_with_crun_and_warns_with_runc(tmp_path: Path) -> None:
    facts, good = diagnose(er.podman_rootless_amd(tmp_path / "good"))
    assert facts.engines[0].mode == "rootless"
    assert verdict(good[ID]) == ("pass", [])
    assert good[ID].summary.endswith("podman run --device=/dev/kfd --device=/dev/dri/renderD128 "
                                     "--group-add=keep-groups")
    bad = result_of(er.podman_rootless_amd(tmp_path / "bad", runtime="runc"), ID)
    assert verdict(bad) == ("warn", [f"{ID}.keep_groups_needs_crun"])


def test_podman_reads_specs_from_cdi_spec_dirs_in_containers_conf(tmp_path: Path) -> None:
    root = er.podman_nvidia(tmp_path / "root")
    spec = (root / "etc/cdi/nvidia.yaml").read_text()
    (root / "etc/cdi/nvidia.yaml").unlink()
    er.write_into(root, "/opt/cdi/nvidia.yaml", spec)
    er.write_into(root, "/etc/containers/containers.conf.d/50-cdi.conf",
           '[engine]\ncdi_spec_dirs = ["/opt/cdi"]\n')
    result = result_of(root, ID)
    assert verdict(result) == ("pass", [])
    assert ("CDI spec folders: /opt/cdi (cdi_spec_dirs in "
            "/etc/containers/containers.conf.d/50-cdi.conf)") in result.evidence
    # the same spec in /etc/cdi is not read once cdi_spec_dirs names only /opt/cdi
    (root / "opt/cdi/nvidia.yaml").rename(root / "etc/cdi/nvidia.yaml")
    assert verdict(result_of(root, ID)) == ("fail", [f"{ID}.no_spec"])


def test_rootless_podman_cannot_read_a_root_only_spec(tmp_path: Path) -> None:
    root = er.podman_nvidia(tmp_path / "root", person_root=False)
    facts, results = diagnose(root)
    assert facts.engines[0].mode == "rootless"
    assert verdict(results[ID]) == ("pass", [])
    (root / "etc/cdi/nvidia.yaml").chmod(0o600)
    result = result_of(root, ID)
    assert verdict(result) == ("fail", [f"{ID}.spec_unreadable"])
    assert result.commands == ["sudo chmod 644 /etc/cdi/nvidia.yaml"]


def test_without_podman_the_check_is_skipped(tmp_path: Path) -> None:
    root = er.nvidia_host(tmp_path / "root").finish()
    result = result_of(root, ID)
    assert verdict(result) == ("skip", [])
    assert result.summary == "Podman is not installed"
