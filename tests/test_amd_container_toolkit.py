"""amd.container_toolkit end to end: `gpudoctor --json --root` keeps plain --device arguments
as the default where the toolkit is installed, and `gpudoctor fix` never plans
`amd-ctk runtime configure --remove`. The check's findings are tested in process in
tests/checks/test_amd_container_toolkit.py."""

from __future__ import annotations

from tests.support import amd_intel_roots as roots
from tests.support.cli import check_of, report_for, run_gpudoctor


def test_device_args_stay_the_default_with_the_toolkit(tmp_path):
    report = report_for(roots.amd_ctk(tmp_path / "root"))
    assert check_of(report, "amd.container_toolkit")["status"] == "pass"
    assert report["docker_run_args"] == ["--device=/dev/kfd", "--device=/dev/dri/renderD128",
                                         "--group-add=110"]


def test_the_fix_never_runs_amd_ctk_runtime_remove(tmp_path):
    """amd-ctk runtime configure --remove deletes all of /etc/cdi: no fix may plan it."""
    run = run_gpudoctor("fix", "--dry-run", "--root", roots.amd_ctk(tmp_path / "root"))
    assert "--remove" not in run.stdout
