"""The container stack on host roots, end to end: `gpudoctor --json --root` as a person runs
it, the report validated against the schema, for what the report decides beyond one check
(docker_run_args) and the text report. Each check's findings on these roots are tested in
process in tests/checks/test_docker_*.py and tests/checks/test_nvidia_toolkit.py.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from tests.support import container_roots as cr
from tests.support.cli import check_of, report_for, run_gpudoctor

CONTAINER_CHECKS = ("docker.daemon", "nvidia.toolkit", "docker.nvidia_runtime", "docker.cdi",
                    "docker.containers")


def test_everything_in_place_passes_and_gives_gpus_all(tmp_path: Path) -> None:
    report = report_for(cr.nvidia_all_good(tmp_path / "root"))
    for check_id in CONTAINER_CHECKS[:-1]:
        check = check_of(report, check_id)
        assert check["status"] == "pass", check
        assert check["fixes"] == []
    assert check_of(report, "docker.containers")["summary"] == "no containers exist"
    assert report["docker_run_args"] == ["--gpus=all"]
    daemon = check_of(report, "docker.daemon")
    assert "/etc/docker/daemon.json" in daemon["summary"]
    assert any(line.startswith("dockerd: pid 1423") for line in daemon["evidence"])
    cdi = check_of(report, "docker.cdi")
    assert "nvidia.com/gpu=all" in cdi["summary"]




RUN_ARGS: list[tuple[str, Callable[[Path], Path], list[str]]] = [
    # --gpus is what works once Docker restarts; the runtime is no alternative here
    ("installed-after-dockerd", cr.toolkit_installed_after_daemon, ["--gpus=all"]),
    # the hook still works, so --gpus stays the answer beside a stale CDI spec
    ("stale-cdi-spec", cr.stale_cdi_spec, ["--gpus=all"]),
    ("cdi-only", cr.cdi_only, ["--device=nvidia.com/gpu=all"]),
    ("docker-29.2-maps-gpus-to-cdi", lambda root: cr.cdi_only(root, docker_version="29.2.0"),
     ["--gpus=all"]),
    ("runtime-loaded-hook-unseen", cr.runtime_without_hook,
     ["--runtime=nvidia", "--env=NVIDIA_VISIBLE_DEVICES=all"]),
    # nothing works yet: the report gives what works once the toolkit is complete
    ("cdi-off-in-docker-26", cr.cdi_off_in_docker_26, ["--gpus=all"]),
]


@pytest.mark.parametrize(("build", "args"), [(b, a) for _, b, a in RUN_ARGS],
                         ids=[name for name, _, _ in RUN_ARGS])
def test_the_run_arguments_are_the_way_that_works(tmp_path: Path, build, args) -> None:
    assert report_for(build(tmp_path / "root"))["docker_run_args"] == args


def test_a_daemon_json_docker_cannot_start_with_exits_1(tmp_path: Path) -> None:
    report = report_for(cr.daemon_json_trailing_comma(tmp_path / "root"), expect_rc=1)
    assert check_of(report, "docker.daemon")["findings"] == ["docker.daemon.config_invalid"]


def test_text_report_names_the_snap_file(tmp_path: Path) -> None:
    root = cr.snap_docker_etc_edited(tmp_path / "root")
    run = run_gpudoctor("check", "--root", root, "-v")
    assert run.returncode == 1
    assert "/var/snap/docker/3265/config/daemon.json" in run.stdout
    assert "docker.configure_nvidia_runtime" in run.stdout
