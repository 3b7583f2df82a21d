"""amd.container_toolkit: amd-ctk's CDI spec against the selected GPUs, the iGPU inside
`amd.com/gpu=all`, and `--gpus` for AMD offered only on Docker versions that accept it.

Roots: the field guide's laptop (RX 7700S + Phoenix iGPU) with amd-ctk installed and
/etc/cdi/amd.json as `amd-ctk cdi generate` writes it (tests/support/amd_intel_roots.py).
"""

from __future__ import annotations

from tests.support import amd_intel_roots as roots
from tests.support import scenarios as sc
from tests.support.cli import check_of, report_for, run_gpudoctor


def alternatives(check: dict) -> dict[str, str]:
    found = {}
    for line in check["evidence"]:
        if line.startswith("alternative ("):
            name, _, args = line[len("alternative ("):].partition("): ")
            found[name] = args
    return found


def test_without_the_toolkit_the_check_skips(tmp_path):
    report = report_for(sc.amd_laptop_field_guide(tmp_path / "root"))
    assert check_of(report, "amd.container_toolkit")["status"] == "skip"


def test_spec_with_the_igpu_in_all_is_noted_and_device_args_stay_default(tmp_path):
    report = report_for(roots.amd_ctk(tmp_path / "root"))
    check = check_of(report, "amd.container_toolkit")
    assert check["status"] == "pass"
    assert check["findings"] == ["amd.container_toolkit.all_includes_igpu"]
    assert "`amd.com/gpu=all` in /etc/cdi/amd.json also gives the unselected c8:00.0" in (
        check["summary"])
    assert "--device=amd.com/gpu=0" in check["summary"]
    assert alternatives(check) == {"cdi": "--device=amd.com/gpu=0"}
    assert any("`--gpus` for AMD is not offered" in e for e in check["evidence"])
    assert report["docker_run_args"] == ["--device=/dev/kfd", "--device=/dev/dri/renderD128",
                                         "--group-add=110"]


def test_gpus_is_offered_on_docker_29_3_with_cdi(tmp_path):
    check = check_of(report_for(roots.amd_ctk(tmp_path / "root", docker_version="29.3.1")),
                     "amd.container_toolkit")
    assert alternatives(check)["gpus"] == '--gpus="device=0"'


def test_runtime_path_and_its_gpus_on_docker_28_3(tmp_path):
    check = check_of(report_for(roots.amd_ctk(tmp_path / "root", docker_version="28.3.0",
                                              runtime=True)), "amd.container_toolkit")
    alts = alternatives(check)
    assert alts["runtime"] == "--runtime=amd --env=AMD_VISIBLE_DEVICES=0"
    assert alts["runtime_gpus"] == '--runtime=amd --gpus="device=0"'
    assert "gpus" not in alts  # CDI --gpus needs 29.3


def test_no_gpus_on_docker_27(tmp_path):
    check = check_of(report_for(roots.amd_ctk(tmp_path / "root", docker_version="27.5.1",
                                              runtime=True)), "amd.container_toolkit")
    alts = alternatives(check)
    assert "runtime_gpus" not in alts and "gpus" not in alts
    assert "runtime" in alts


def test_spec_that_misses_the_selected_gpu_warns_with_the_regenerate_command(tmp_path):
    spec = roots.amd_ctk_spec(renders=(129,))  # generated when only the iGPU was there
    report = report_for(roots.amd_ctk(tmp_path / "root", spec=spec))
    check = check_of(report, "amd.container_toolkit")
    assert check["status"] == "warn"
    assert "amd.container_toolkit.spec_misses_gpu" in check["findings"]
    assert check["commands"] == ["sudo amd-ctk cdi generate --output=/etc/cdi/amd.json"]


def test_spec_without_the_igpu_is_quiet(tmp_path):
    report = report_for(roots.amd_ctk(tmp_path / "root", spec=roots.amd_ctk_spec(
        igpu_render=False)))
    check = check_of(report, "amd.container_toolkit")
    assert check["status"] == "pass" and check["findings"] == []


def test_the_fix_never_runs_amd_ctk_runtime_remove(tmp_path):
    """amd-ctk runtime configure --remove deletes all of /etc/cdi: no fix may plan it."""
    run = run_gpudoctor("fix", "--dry-run", "--root", roots.amd_ctk(tmp_path / "root"))
    assert "--remove" not in run.stdout


def test_runtime_declared_but_not_loaded_offers_the_reload(tmp_path):
    report = report_for(roots.amd_ctk(tmp_path / "root", runtime=True, loaded=False))
    check = check_of(report, "amd.container_toolkit")
    assert check["status"] == "warn"
    assert check["findings"][0] == "amd.container_toolkit.runtime_not_loaded"
    assert "docker.reload" in check["fixes"]
    assert "unknown or invalid runtime name: amd" in check["details"]
    assert "runtime" not in alternatives(check)
