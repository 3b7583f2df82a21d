"""docker.cdi in process on host roots: CDI spec files valid and current, and CDI on in the
daemon where the GPUs are to come through it. Each problem row gives its finding id, fixes and
commands on the smallest root that has it; the current spec beside it gives none."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.support import amd_intel_roots as ar
from tests.support import container_roots as cr
from tests.support.check_run import result_of, verdict

ID = "docker.cdi"
REGENERATE = ["sudo nvidia-ctk cdi generate --output=/var/run/cdi/nvidia.yaml",
              "sudo systemctl restart nvidia-cdi-refresh.service"]


def host(root: Path, *, version: str = "28.5.1", libs: str | None = cr.DRIVER,
         spec_driver: str | None = cr.DRIVER, cdi_version: str = "0.5.0",
         packages: list[str] | None = None,
         info: Callable[[dict[str, Any]], None] | None = None) -> cr.ContainerRoot:
    """8 x H100 with a system dockerd `version`, driver libraries `libs` and the spec
    nvidia-ctk writes for `spec_driver` in /var/run/cdi (None: no spec)."""
    r = cr.ContainerRoot(root)
    r.toolkit(installed_at=cr.DOCKERD_START - 86400, packages=packages)
    r.system_dockerd()
    answer = cr.docker_info(version)
    if info:
        info(answer)
    r.answers(answer, version=version)
    if libs:
        r.driver_libs(libs)
    if spec_driver:
        r.cdi_spec(driver=spec_driver, cdi_version=cdi_version)
    return r


def test_a_current_spec_with_cdi_on_passes(tmp_path: Path) -> None:
    result = result_of(cr.nvidia_all_good(tmp_path / "root"), ID)
    assert verdict(result) == ("pass", [])
    assert result.summary.startswith("CDI specs offer nvidia.com/gpu=all, nvidia.com/gpu=0")
    assert result.summary.endswith("and 1 more; the daemon has CDI on")


def test_a_host_without_specs_skips_and_says_how_to_make_one(tmp_path: Path) -> None:
    result = result_of(host(tmp_path / "root", spec_driver=None).finish(), ID)
    assert verdict(result) == ("skip", [])
    assert result.summary.endswith("; `--gpus` goes through the toolkit's hook")
    assert result.details == ("To use CDI for NVIDIA GPUs: `sudo nvidia-ctk cdi generate "
                              "--output=/var/run/cdi/nvidia.yaml`.")


def test_an_amd_spec_needs_no_nvidia_hint(tmp_path: Path) -> None:
    result = result_of(ar.amd_ctk(tmp_path / "root"), ID)
    assert verdict(result) == ("pass", [])
    assert result.summary.startswith("CDI specs offer amd.com/gpu=all")


def test_a_spec_that_cannot_be_parsed(tmp_path: Path) -> None:
    r = host(tmp_path / "root")
    r.b.write("/etc/cdi/broken.yaml", "cdiVersion: [\n")
    result = result_of(r.finish(), ID)
    assert verdict(result) == ("fail", ["docker.cdi.spec_unusable"])
    assert result.summary == "the CDI spec /etc/cdi/broken.yaml cannot be used"
    assert result.fixes == []


def test_a_spec_whose_files_are_gone(tmp_path: Path) -> None:
    result = result_of(host(tmp_path / "root", libs=None).finish(), ID)
    assert verdict(result) == ("fail", ["docker.cdi.spec_stale"])
    assert result.fixes == ["nvidia.cdi_regenerate"]
    assert result.commands == REGENERATE
    assert "a driver upgrade left it behind" not in result.details


def test_stale_cdi_spec_after_a_driver_upgrade(tmp_path: Path) -> None:
    result = result_of(cr.stale_cdi_spec(tmp_path / "root"), ID)
    assert verdict(result) == ("fail", ["docker.cdi.spec_stale"])
    assert "/etc/cdi/nvidia.yaml" in result.summary and "stale" in result.summary
    assert "535.161.07" in result.details and "580.95.05" in result.details
    assert "/usr/lib/x86_64-linux-gnu/libcuda.so.535.161.07" in result.details
    assert "a driver upgrade left it behind" in result.details
    assert "nvidia-ctk cdi generate --output=/etc/cdi/nvidia.yaml" in result.remedy
    assert result.fixes == ["nvidia.cdi_regenerate"]


def test_a_spec_for_another_driver_whose_files_still_exist(tmp_path: Path) -> None:
    r = host(tmp_path / "root", libs=cr.OLD_DRIVER, spec_driver=cr.OLD_DRIVER)
    result = result_of(r.finish(), ID)
    assert verdict(result) == ("warn", ["docker.cdi.spec_other_driver"])
    assert result.fixes == ["nvidia.cdi_regenerate"]
    assert result.commands == REGENERATE


@pytest.mark.parametrize(("version", "expected"), [
    ("26.0.2", ("fail", ["docker.cdi.spec_version_too_new"])),
    ("26.1.4", ("pass", [])),
])
def test_cdi_0_7_needs_docker_26_1(tmp_path: Path, version: str, expected) -> None:
    r = host(tmp_path / "root", version=version, cdi_version="0.7.0")
    assert verdict(result_of(r.finish(), ID)) == expected


def no_cdi_dirs(info: dict[str, Any]) -> None:
    info.pop("CDISpecDirs", None)


def test_docker_before_25_cannot_use_the_specs(tmp_path: Path) -> None:
    r = host(tmp_path / "root", version="24.0.7", packages=["nvidia-container-toolkit-base"],
             info=no_cdi_dirs)
    result = result_of(r.finish(), ID)
    assert verdict(result) == ("warn", ["docker.cdi.docker_too_old"])
    assert result.summary == "CDI specs exist but Docker 24.0.7 cannot use CDI"


def test_docker_before_25_is_quiet_where_gpus_works(tmp_path: Path) -> None:
    r = host(tmp_path / "root", version="24.0.7", info=no_cdi_dirs)
    assert verdict(result_of(r.finish(), ID)) == ("pass", [])


def test_cdi_off_in_docker_26_with_specs_in_the_daemons_own_folder(tmp_path: Path) -> None:
    result = result_of(cr.cdi_off_in_docker_26(tmp_path / "root"), ID)
    assert verdict(result) == ("warn", ["docker.cdi.disabled"])
    assert result.commands == ["sudo systemctl restart docker"]
    assert any(e.startswith("spec folders: /etc/cdi, /var/run/cdi, /opt/cdi")
               for e in result.evidence)
    assert any(e.startswith("/opt/cdi/nvidia.json: cdiVersion 0.5.0, kind nvidia.com/gpu, "
                            "devices nvidia.com/gpu=all, nvidia.com/gpu=0, nvidia.com/gpu=1")
               for e in result.evidence)
    assert 'could not select device driver "cdi"' in result.details
    assert '"features": {"cdi": true}' in result.remedy


def test_cdi_off_is_quiet_where_gpus_works(tmp_path: Path) -> None:
    r = host(tmp_path / "root", version="26.1.4",
             info=lambda info: info.update(CDISpecDirs=[]))
    assert verdict(result_of(r.finish(), ID)) == ("pass", [])
