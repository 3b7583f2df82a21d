"""amd.container_toolkit in process: amd-ctk's CDI spec against the selected GPUs, the iGPU
inside `amd.com/gpu=all` (a note, not a problem), the `amd` runtime, and `--gpus` for AMD
offered only on Docker versions that accept it.

Roots: the field guide's laptop (RX 7700S + Phoenix iGPU) with amd-ctk installed and
/etc/cdi/amd.json as `amd-ctk cdi generate` writes it (tests/support/amd_intel_roots.py).
"""

from __future__ import annotations

from pathlib import Path

from gpudoctor.plugin import Result
from tests.support import amd_intel_roots as roots
from tests.support import scenarios as sc
from tests.support.check_run import result_of, verdict

ID = "amd.container_toolkit"


def alternatives(result: Result) -> dict[str, str]:
    found = {}
    for line in result.evidence:
        if line.startswith("alternative ("):
            name, _, args = line[len("alternative ("):].partition("): ")
            found[name] = args
    return found


def test_without_the_toolkit_the_check_skips(tmp_path: Path) -> None:
    result = result_of(sc.amd_laptop_field_guide(tmp_path / "root"), ID)
    assert verdict(result) == ("skip", [])


def test_spec_with_the_igpu_in_all_is_noted_and_device_args_stay_default(tmp_path: Path) -> None:
    result = result_of(roots.amd_ctk(tmp_path / "root"), ID)
    assert verdict(result) == ("pass", ["amd.container_toolkit.all_includes_igpu"])
    assert result.summary.startswith("the AMD Container Toolkit is consistent with the selected "
                                     "GPUs; the --device arguments stay the default; note: ")
    assert "`amd.com/gpu=all` in /etc/cdi/amd.json also gives the unselected c8:00.0" in (
        result.summary)
    assert "--device=amd.com/gpu=0" in result.summary
    assert alternatives(result) == {"cdi": "--device=amd.com/gpu=0"}
    assert any("`--gpus` for AMD is not offered" in e for e in result.evidence)


def test_spec_without_the_igpu_is_quiet(tmp_path: Path) -> None:
    result = result_of(roots.amd_ctk(tmp_path / "root", spec=roots.amd_ctk_spec(
        igpu_render=False)), ID)
    assert verdict(result) == ("pass", [])
    assert result.summary.endswith("the --device arguments stay the default (alternatives: "
                                   "cdi)")


def test_gpus_is_offered_on_docker_29_3_with_cdi(tmp_path: Path) -> None:
    result = result_of(roots.amd_ctk(tmp_path / "root", docker_version="29.3.1"), ID)
    assert alternatives(result)["gpus"] == '--gpus="device=0"'


def test_runtime_path_and_its_gpus_on_docker_28_3(tmp_path: Path) -> None:
    result = result_of(roots.amd_ctk(tmp_path / "root", docker_version="28.3.0", runtime=True),
                       ID)
    alts = alternatives(result)
    assert alts["runtime"] == "--runtime=amd --env=AMD_VISIBLE_DEVICES=0"
    assert alts["runtime_gpus"] == '--runtime=amd --gpus="device=0"'
    assert "gpus" not in alts  # CDI --gpus needs 29.3


def test_no_gpus_on_docker_27(tmp_path: Path) -> None:
    result = result_of(roots.amd_ctk(tmp_path / "root", docker_version="27.5.1", runtime=True),
                       ID)
    alts = alternatives(result)
    assert "runtime_gpus" not in alts and "gpus" not in alts
    assert "runtime" in alts


def test_spec_that_misses_the_selected_gpu_warns_with_the_regenerate_command(
        tmp_path: Path) -> None:
    spec = roots.amd_ctk_spec(renders=(129,))  # generated when only the iGPU was there
    result = result_of(roots.amd_ctk(tmp_path / "root", spec=spec), ID)
    assert verdict(result) == ("warn", ["amd.container_toolkit.spec_misses_gpu",
                                        "amd.container_toolkit.all_includes_igpu"])
    assert result.commands == ["sudo amd-ctk cdi generate --output=/etc/cdi/amd.json"]


def test_runtime_declared_but_not_loaded_offers_the_reload(tmp_path: Path) -> None:
    result = result_of(roots.amd_ctk(tmp_path / "root", runtime=True, loaded=False), ID)
    assert result.status.value == "warn"
    assert result.findings[0] == "amd.container_toolkit.runtime_not_loaded"
    assert result.fixes == ["docker.reload"]
    assert result.commands == ["sudo systemctl restart docker"]
    assert "unknown or invalid runtime name: amd" in result.details
    assert "runtime" not in alternatives(result)


def test_runtime_declared_and_loaded_is_quiet(tmp_path: Path) -> None:
    result = result_of(roots.amd_ctk(tmp_path / "root", runtime=True,
                                     spec=roots.amd_ctk_spec(igpu_render=False)), ID)
    assert verdict(result) == ("pass", [])
