"""The data shipped for the NVIDIA container layer, and the rules that read it.

The advisory table is checked at every boundary (last affected version in, first fixed version
out, for the modes each advisory applies to); the driver/CUDA table at branch boundaries; the
NVIDIA_REQUIRE_CUDA reader with the requirement strings NVIDIA's CUDA images carry.
"""

from __future__ import annotations

import calendar
import time

import pytest

from gpudoctor.facts.nvidia_advisories import advisories, judge_toolkit, minimum_safe_version
from gpudoctor.facts.nvidia_cuda import (
    DriverCuda,
    cuda_for_driver,
    image_requirement,
    judge_requirement,
    parse_requirement,
)
from gpudoctor.facts.nvidia_layer import version_key
from tests.support.nvidia_layer_roots import REQUIRE_CUDA_12_8, REQUIRE_CUDA_13_1

#: The issue's list: CVE -> first fixed version.
REQUIRED = {"CVE-2024-0132": "1.16.2", "CVE-2024-0133": "1.16.2", "CVE-2024-0134": "1.17.0",
            "CVE-2024-0135": "1.17.3", "CVE-2024-0136": "1.17.3", "CVE-2024-0137": "1.17.3",
            "CVE-2025-23359": "1.17.4", "CVE-2025-23266": "1.17.8"}
NOW = calendar.timegm(time.strptime("2026-02-13", "%Y-%m-%d"))


def test_table_has_every_required_advisory_with_a_source() -> None:
    rows, table = advisories()
    fixed = {a.cve: a.fixed for a in rows}
    assert {k: fixed.get(k) for k in REQUIRED} == REQUIRED
    assert all(a.source.startswith("https://") for a in rows)
    assert time.strptime(table["date"], "%Y-%m-%d")
    assert minimum_safe_version() == "1.17.8"


@pytest.mark.parametrize("cve", sorted(REQUIRED))
def test_each_advisory_boundary(cve: str) -> None:
    rows, _ = advisories()
    row = next(a for a in rows if a.cve == cve)
    mode = "cdi" if row.only_cdi_before else "legacy"
    if "cdi" in row.not_in_modes:
        mode = "legacy"
    last = judge_toolkit(row.last_affected, mode, NOW)
    first = judge_toolkit(row.fixed, mode, NOW)
    assert last is not None and first is not None
    assert cve in [a.cve for a in last.affected]
    assert cve not in [a.cve for a in first.affected]


def test_modes_decide_where_the_bulletins_say_so() -> None:
    in_cdi = [a.cve for a in judge_toolkit("1.16.1", "cdi", NOW).affected]  # type: ignore[union-attr]
    assert "CVE-2024-0132" not in in_cdi  # "does not impact use cases where CDI is used"
    legacy_1174 = [a.cve for a in judge_toolkit("1.17.4", "legacy", NOW).affected]  # type: ignore[union-attr]
    cdi_1174 = [a.cve for a in judge_toolkit("1.17.4", "cdi", NOW).affected]  # type: ignore[union-attr]
    assert "CVE-2025-23266" not in legacy_1174  # CDI mode only before 1.17.5
    assert "CVE-2025-23266" in cdi_1174
    assert "CVE-2025-23266" in [a.cve for a in judge_toolkit("1.17.5", "legacy", NOW).affected]  # type: ignore[union-attr]


def test_the_verdict_names_the_version_that_fixes_everything() -> None:
    verdict = judge_toolkit("1.16.1-1", "legacy", NOW)
    assert verdict is not None
    assert verdict.fixed_in == "1.17.8"
    assert judge_toolkit("1.17.8-1", "legacy", NOW).affected == []  # type: ignore[union-attr]
    assert judge_toolkit("not a version", "legacy", NOW) is None


def test_table_turns_stale_a_year_after_its_date() -> None:
    _, table = advisories()
    dated = calendar.timegm(time.strptime(table["date"], "%Y-%m-%d"))
    assert not judge_toolkit("1.17.8", "legacy", dated + 364 * 86400).stale  # type: ignore[union-attr]
    assert judge_toolkit("1.17.8", "legacy", dated + 366 * 86400).stale  # type: ignore[union-attr]


@pytest.mark.parametrize(("driver", "cuda"), [
    ("418.39", "10.1"), ("470.256.02", "11.4"), ("535.161.07", "12.2"), ("535.54.03", "12.2"),
    ("535.54.02", "12.1"), ("550.54.14", "12.4"), ("570.86.10", "12.8"), ("580.95.05", "13.0"),
])
def test_driver_to_cuda_table(driver: str, cuda: str) -> None:
    assert cuda_for_driver(driver)[0] == cuda


def test_requirement_syntax_or_of_ands() -> None:
    assert parse_requirement("cuda>=12.4 brand=tesla,driver>=470,driver<471") == [
        [("cuda", ">=", "12.4")],
        [("brand", "=", "tesla"), ("driver", ">=", "470"), ("driver", "<", "471")]]


def test_requirements_of_cuda_images_against_a_580_driver() -> None:
    info = DriverCuda("580.95.05", "13.0", "test")
    new = judge_requirement(REQUIRE_CUDA_13_1, info)
    assert new.satisfied is False and new.needed_cuda == "13.1"
    assert judge_requirement(REQUIRE_CUDA_12_8, info).satisfied is True


def test_brand_alternatives_that_may_apply_are_not_called_unsatisfied() -> None:
    # a 535 datacenter driver runs a 12.4 image through forward compatibility when the GPU is
    # a Tesla: gpudoctor cannot tell the brand, so it does not claim the image fails
    info = DriverCuda("535.161.07", "12.2", "test")
    verdict = judge_requirement("cuda>=12.4 brand=tesla,driver>=535,driver<536", info)
    assert verdict.satisfied is None
    assert judge_requirement("cuda>=12.4", info).satisfied is False


def test_disable_require_turns_the_check_off() -> None:
    env = {"NVIDIA_REQUIRE_CUDA": "cuda>=99.0", "NVIDIA_DISABLE_REQUIRE": "true"}
    assert image_requirement(env) is None
    assert image_requirement({"NVIDIA_REQUIRE_CUDA": "cuda>=12.8"}) == "cuda>=12.8"


def test_version_keys() -> None:
    assert version_key("1.17.8-1") == (1, 17, 8)
    assert version_key("1.18") == (1, 18, 0)
    assert version_key("580.95.05") == (580, 95, 5)
    assert version_key("") is None


# ----- verify's cause table: the errors of issue 13, each with its check and fix ---------------
@pytest.mark.parametrize(("text", "rule", "check", "fix"), [
    ("Failed to initialize NVML: Unknown Error", "nvml-unknown-error",
     "nvidia.cgroup_devices", "nvidia.dev_char_links"),
    ("nvidia-container-cli: initialization error: nvml error: driver/library version mismatch: "
     "unknown", "nvml-version-mismatch", "kernel.driver", "nvidia.cdi_regenerate"),
    ("nvidia-container-cli: requirement error: unsatisfied condition: cuda>=12.8, please update "
     "your driver to a newer version, or use an earlier cuda container: unknown",
     "cuda-requirement", "nvidia.cuda_requirement", None),
    ("nvidia-container-cli: ldcache error: open failed: /sbin/ldconfig.real: no such file or "
     "directory: unknown", "ldconfig-path", "nvidia.toolkit_config", None),
    ("Error response from daemon: failed to create task for container: error modifying OCI "
     "spec: failed to inject CDI devices: unresolvable CDI devices nvidia.com/gpu=all",
     "cdi-unresolvable", "nvidia.cdi_mode", "nvidia.cdi_regenerate"),
    ("stderr: Using requested mode 'cdi'\ninvoking the NVIDIA Container Runtime Hook directly "
     "(e.g. specifying the docker --gpus flag) is not supported. Please use the NVIDIA Container "
     "Runtime (e.g. specify the --runtime=nvidia flag) instead.: unknown",
     "hook-mode-not-legacy", "nvidia.toolkit_config", None),
    ("error running hook #0: ... /usr/lib/x86_64-linux-gnu/libEGL_nvidia.so.535.161.07: no such "
     "file or directory", "cdi-spec-stale", "nvidia.cdi_mode", "nvidia.cdi_regenerate"),
])
def test_cause_table_maps_each_error_to_its_check_and_fix(text: str, rule: str, check: str,
                                                          fix: str | None) -> None:
    from gpudoctor.verify.causes import map_error

    cause = map_error(text)
    assert cause is not None and cause.id == rule
    assert check in cause.checks
    if fix:
        assert fix in cause.fixes
