"""nvidia.toolkit_config on host roots, in process: config.toml settings that cannot work on
this host (an ldconfig from another distribution, no-cgroups under a rootful daemon, CDI mode
while containers use `--gpus`), each next to the host where the same file is fine."""

from __future__ import annotations

from pathlib import Path

from tests.support import nvidia_layer_roots as nr
from tests.support.check_run import result_of, verdict

ID = "nvidia.toolkit_config"
CONFIG = "/etc/nvidia-container-runtime/config.toml"


def _ctk_set(key: str, value: str) -> str:
    return f"sudo nvidia-ctk config --config-file={CONFIG} --in-place --set {key}={value}"


def test_the_default_config_fits(tmp_path: Path) -> None:
    result = result_of(nr.toolkit_version(tmp_path / "root", "1.17.8-1"), ID)
    assert verdict(result) == ("pass", [])
    assert result.summary.startswith(f"{CONFIG} fits this host")


def test_ldconfig_from_another_distribution(tmp_path: Path) -> None:
    result = result_of(nr.ldconfig_missing(tmp_path / "root"), ID)
    assert verdict(result) == ("fail", [f"{ID}.ldconfig_missing"])
    assert "@/sbin/ldconfig.real" in result.summary
    assert "ldcache error: open failed: /sbin/ldconfig.real" in result.details
    assert "toolkit 1.14.3-1 does not fall back" in result.details
    assert result.commands == [_ctk_set("nvidia-container-cli.ldconfig", "@/sbin/ldconfig")]


def test_a_missing_ldconfig_real_is_fine_where_the_toolkit_falls_back(tmp_path: Path) -> None:
    result = result_of(nr.ldconfig_missing(tmp_path / "root", version="1.17.8-1"), ID)
    assert verdict(result) == ("pass", [])
    assert any("falls back to /sbin/ldconfig" in e for e in result.evidence)


def test_no_fallback_when_the_base_ldconfig_is_missing_too(tmp_path: Path) -> None:
    root = nr.ldconfig_missing(tmp_path / "root", version="1.17.8-1")
    (root / "sbin/ldconfig").unlink()
    result = result_of(root, ID)
    assert verdict(result) == ("fail", [f"{ID}.ldconfig_missing"])
    assert "does not fall back" not in result.details  # 1.17.8 would, were the base there


def test_no_cgroups_under_a_rootful_daemon(tmp_path: Path) -> None:
    result = result_of(nr.no_cgroups_rootful(tmp_path / "root"), ID)
    assert verdict(result) == ("fail", [f"{ID}.no_cgroups_rootful"])
    assert result.commands == [_ctk_set("nvidia-container-cli.no-cgroups", "false")]


def test_cdi_mode_with_gpus_containers(tmp_path: Path) -> None:
    result = result_of(nr.cdi_mode_gpus_used(tmp_path / "root"), ID)
    assert verdict(result) == ("warn", [f"{ID}.cdi_mode_gpus"])
    assert "trainer" in result.summary
    assert "invoking the NVIDIA Container Runtime Hook directly" in result.details
    assert result.commands == [_ctk_set("nvidia-container-runtime.mode", "auto")]


def test_cdi_mode_without_gpus_containers_is_quiet(tmp_path: Path) -> None:
    result = result_of(nr.cdi_mode_systemd(tmp_path / "root"), ID)
    assert verdict(result) == ("pass", [])
    assert any("`--gpus` would be refused; no existing container uses it" in e
               for e in result.evidence)


def test_without_a_config_the_defaults_apply(tmp_path: Path) -> None:
    root = nr.toolkit_version(tmp_path / "root", "1.17.8-1")
    (root / CONFIG.lstrip("/")).unlink()
    result = result_of(root, ID)
    assert verdict(result) == ("pass", [])
    assert result.summary == f"{CONFIG} does not exist: the toolkit's defaults apply"


def test_a_config_that_is_not_toml_is_skipped_not_judged(tmp_path: Path) -> None:
    root = nr.toolkit_version(tmp_path / "root", "1.17.8-1")
    (root / CONFIG.lstrip("/")).write_text("[nvidia-container-cli\nldconfig = \n")
    result = result_of(root, ID)
    assert verdict(result) == ("skip", [])
    assert result.summary.startswith(f"{CONFIG} cannot be read: not valid TOML")
