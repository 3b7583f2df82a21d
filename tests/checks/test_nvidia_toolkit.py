"""nvidia.toolkit in process on host roots: nvidia-container-toolkit installed whole, and the
running dockerd saw its hook when it started. Each problem row gives its finding id, fixes and
commands; the healthy roots beside them give none."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from tests.support import container_roots as cr
from tests.support.check_run import result_of, verdict

ID = "nvidia.toolkit"
INSTALL = ["nvidia.install_toolkit"]


def system(root: Path, **toolkit) -> cr.ContainerRoot:
    """8 x H100, the toolkit installed a day before a system dockerd started (runtime loaded)."""
    r = cr.ContainerRoot(root)
    r.toolkit(installed_at=cr.DOCKERD_START - 86400, **toolkit)
    r.system_dockerd()
    r.answers(cr.docker_info(nvidia=True))
    return r


def test_installed_and_seen_by_dockerd_passes(tmp_path: Path) -> None:
    result = result_of(cr.nvidia_all_good(tmp_path / "root"), ID)
    assert verdict(result) == ("pass", [])
    assert result.summary == ("nvidia-container-toolkit 1.17.8-1 is installed (dpkg) and "
                              "dockerd found its hook when it started")


def test_installed_without_a_daemon_to_ask_passes_without_the_claim(tmp_path: Path) -> None:
    result = result_of(cr.not_captured(tmp_path / "root"), ID)
    assert verdict(result) == ("pass", [])
    assert result.summary == "nvidia-container-toolkit 1.17.8-1 is installed (dpkg)"


def test_toolkit_missing_is_the_field_guide_error(tmp_path: Path) -> None:
    result = result_of(cr.toolkit_missing(tmp_path / "root"), ID)
    assert verdict(result) == ("fail", ["nvidia.toolkit.not_installed"])
    assert result.fixes == INSTALL
    assert 'could not select device driver "nvidia" with capabilities: [[gpu]]' in \
        result.details
    assert "nvidia-ctk runtime configure" not in result.remedy
    assert result.commands[0].endswith("sudo apt-get install -y nvidia-container-toolkit")
    assert result.commands[1].startswith("sudo dpkg -i libnvidia-container1_")


def test_an_install_dpkg_left_half_way(tmp_path: Path) -> None:
    r = system(tmp_path / "root", status={"nvidia-container-toolkit": "install ok unpacked"})
    result = result_of(r.finish(), ID)
    assert verdict(result) == ("fail", ["nvidia.toolkit.half_installed"])
    assert result.fixes == INSTALL
    assert result.commands[0] == "sudo apt-get -f install"


def test_mismatched_toolkit_package_versions_since_1_18(tmp_path: Path) -> None:
    result = result_of(cr.toolkit_versions_mismatched(tmp_path / "root"), ID)
    assert verdict(result) == ("fail", ["nvidia.toolkit.versions_mixed"])
    assert result.fixes == INSTALL
    assert "nvidia-container-toolkit 1.18.0-1" in result.details
    assert "libnvidia-container1 1.17.8-1" in result.details
    assert "exact same version" in result.details
    assert "nvidia-container-toolkit=$V" in result.remedy


def test_mismatched_versions_before_1_18_warn(tmp_path: Path) -> None:
    r = system(tmp_path / "root", versions={"libnvidia-container1": "1.17.7-1"})
    result = result_of(r.finish(), ID)
    assert verdict(result) == ("warn", ["nvidia.toolkit.versions_mixed"])
    assert result.commands == ["V=<version>-1; sudo apt-get install nvidia-container-toolkit=$V "
                               "nvidia-container-toolkit-base=$V libnvidia-container-tools=$V "
                               "libnvidia-container1=$V"]


def test_missing_packages_fail_where_nothing_else_works(tmp_path: Path) -> None:
    r = system(tmp_path / "root", packages=["nvidia-container-toolkit-base",
                                            "libnvidia-container1"])
    result = result_of(r.finish(), ID)
    assert verdict(result) == ("fail", ["nvidia.toolkit.packages_missing"])
    assert result.summary == ("toolkit packages missing: libnvidia-container-tools, "
                              "nvidia-container-toolkit")
    assert result.fixes == INSTALL


def test_cdi_is_the_way_when_only_toolkit_base_is_installed(tmp_path: Path) -> None:
    result = result_of(cr.cdi_only(tmp_path / "root"), ID)
    assert verdict(result) == ("warn", ["nvidia.toolkit.packages_missing"])
    assert "CDI works" in result.summary


def test_a_hook_that_is_nowhere(tmp_path: Path) -> None:
    root = system(tmp_path / "root").finish()
    os.unlink(root / "usr/bin/nvidia-container-runtime-hook")
    result = result_of(root, ID)
    assert verdict(result) == ("fail", ["nvidia.toolkit.hook_not_on_path"])
    assert result.fixes == INSTALL


def test_a_hook_outside_dockerds_path(tmp_path: Path) -> None:
    # a unit that sets its own PATH without /usr/bin: dockerd never sees the hook
    result = result_of(cr.runtime_without_hook(tmp_path / "root"), ID)
    assert verdict(result) == ("fail", ["nvidia.toolkit.hook_not_on_dockerd_path"])
    assert "not on dockerd's PATH" in result.summary
    assert "/usr/local/sbin:/usr/sbin:/sbin" in result.details
    assert result.commands == ["sudo ln -s /usr/bin/nvidia-container-runtime-hook "
                               "/usr/bin/nvidia-container-runtime-hook",
                               "sudo systemctl restart docker"]


def test_toolkit_installed_after_the_daemon_started_offers_a_restart(tmp_path: Path) -> None:
    result = result_of(cr.toolkit_installed_after_daemon(tmp_path / "root"), ID)
    assert verdict(result) == ("fail", ["nvidia.toolkit.installed_after_dockerd"])
    assert result.fixes == ["docker.reload"]
    assert result.commands == ["sudo systemctl restart docker"]
    assert "/var/lib/dpkg/info/nvidia-container-toolkit.list" in result.details
    assert "could not select device driver" in result.details
    assert "2026-02-11 09:33:00 UTC" in result.details  # dockerd's start
    assert "2026-02-11 10:33:00 UTC" in result.details  # the install, an hour later


def test_toolkit_upgraded_in_place_after_start_still_works(tmp_path: Path) -> None:
    result = result_of(cr.toolkit_installed_after_daemon(tmp_path / "root", upgrade=True), ID)
    assert verdict(result) == ("pass", [])
    assert any("upgrade 1.17.7-1 -> 1.17.8-1" in e for e in result.evidence)


@pytest.mark.parametrize(("version", "expected"), [
    ("29.2.0", ("warn", ["nvidia.toolkit.snap_and_host"])),
    ("28.4.0", ("pass", [])),
])
def test_the_snap_from_29_2_beside_host_packages(tmp_path: Path, version: str,
                                                 expected) -> None:
    root = cr.snap_docker_etc_edited(tmp_path / "root")
    host_json = root / ".gpudoctor/host.json"
    doc = json.loads(host_json.read_text())
    doc["docker"]["info"]["ServerVersion"] = version
    doc["docker"]["version"]["Version"] = version
    host_json.write_text(json.dumps(doc))
    result = result_of(root, ID)
    assert verdict(result) == expected
    if expected[0] == "warn":
        assert result.commands == ["sudo apt-get remove nvidia-container-toolkit "
                                   "nvidia-container-toolkit-base"]


def test_an_amd_host_skips(tmp_path: Path) -> None:
    assert verdict(result_of(cr.amd_containers_reused(tmp_path / "root"), ID)) == ("skip", [])


def test_docker_desktop_skips(tmp_path: Path) -> None:
    result = result_of(cr.docker_desktop(tmp_path / "root"), ID)
    assert verdict(result) == ("skip", [])
    assert "VM" in result.summary
