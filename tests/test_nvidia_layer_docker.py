"""The NVIDIA container layer against the real test dockerd (Docker 20.10 here).

Docker's own behaviour is the point: the cgroup driver it reports (a daemon started with
`native.cgroupdriver=systemd` reports it although this machine has no systemd to run
containers with it), the inspect body of a real `--gpus` container served by the stand-in
hook, the environment `docker import --change 'ENV ...'` puts into an image, and whether the
daemon.json the cgroupfs fix writes is one dockerd starts with. NVIDIA hardware comes from a
host root (LiveDockerOverRoot). CDI cannot be tested here (Docker 20.10 has none): those cases
run on host roots in tests/test_nvidia_layer_roots.py.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest

from gpudoctor.facts import Facts, Options
from gpudoctor.facts.nvidia_layer import containers
from gpudoctor.report import Doctor
from tests.support import container_roots as cr
from tests.support.cli import check_of, run_gpudoctor, validate_report
from tests.support.docker_fixtures import DockerdFactory
from tests.support.dockerd import Dockerd, busybox_rootfs_tar, ensure_busybox_image
from tests.support.nvidia_layer_roots import REQUIRE_CUDA_12_8, REQUIRE_CUDA_13_1
from tests.support.standins import install_standins

pytestmark = pytest.mark.docker


@pytest.fixture(autouse=True)
def private_lock(tmp_path, monkeypatch):
    monkeypatch.setenv("GPUDOCTOR_LOCK_FILE", str(tmp_path / "gpudoctor.lock"))


@pytest.fixture(scope="module")
def nvidia_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """8 x H100 on driver 580.95.05 (CUDA 13.0), no /dev/char links."""
    return cr.nvidia_hardware(tmp_path_factory.mktemp("hw") / "root")


def env_of(d: Dockerd, home: Path) -> dict[str, str]:
    return {"DOCKER_HOST": d.host, "HOME": str(home), "PATH": "/usr/sbin:/usr/bin:/sbin:/bin"}


def diagnose(d: Dockerd, hardware: Path, home: Path, image: str | None = None) -> dict[str, Any]:
    host = cr.LiveDockerOverRoot(hardware, env=env_of(d, home))
    doctor = Doctor(host=host, options=Options(image=image))
    doctor.run()
    return validate_report(doctor.report())


def hook_daemon(factory: DockerdFactory, tmp_path: Path, config: dict[str, Any]) -> Dockerd:
    hooks = tmp_path / "hooks"
    install_standins(hooks, ["nvidia-container-runtime-hook"])
    time.sleep(1.2)  # apart from dockerd's start (its recorded start can read 1 s early)
    return factory(config=config, extra_path=[hooks])


def test_systemd_driver_is_read_from_the_daemon_and_the_fix_makes_it_cgroupfs(
        dockerd_factory: DockerdFactory, nvidia_root: Path, tmp_path: Path) -> None:
    d = hook_daemon(dockerd_factory, tmp_path,
                    {"exec-opts": ["native.cgroupdriver=systemd"], "log-level": "info"})
    assert d.info()["CgroupDriver"] == "systemd"
    report = diagnose(d, nvidia_root, tmp_path)
    check = check_of(report, "nvidia.cgroup_devices")
    assert check["status"] == "warn", check
    assert check["findings"] == ["nvidia.cgroup_devices.legacy_systemd"]
    assert "Docker cgroup driver: systemd (cgroup v1)" in check["evidence"]
    assert report["docker_run_args"] == ["--gpus=all"]  # no CDI in Docker 20.10

    run = run_gpudoctor("fix", "docker.cgroupfs_driver", "--yes",
                        env={"DOCKER_HOST": d.host}, timeout=120)
    assert run.returncode == 0, run.stdout + run.stderr
    assert '-    "native.cgroupdriver=systemd"' in run.stdout
    assert '+    "native.cgroupdriver=cgroupfs"' in run.stdout
    written = json.loads(d.config_file.read_text())
    assert written == {"exec-opts": ["native.cgroupdriver=cgroupfs"], "log-level": "info"}
    assert list(d.config_file.parent.glob("daemon.json.gpudoctor-*.bak"))

    d.restart()  # dockerd reads the driver only at start: the real daemon takes the file
    assert d.info()["CgroupDriver"] == "cgroupfs"
    after = check_of(diagnose(d, nvidia_root, tmp_path), "nvidia.cgroup_devices")
    assert after["status"] == "pass", after
    again = run_gpudoctor("fix", "docker.cgroupfs_driver", "--yes",
                          env={"DOCKER_HOST": d.host}, timeout=120)
    assert again.returncode == 0 and "nothing to do:" in again.stdout


def test_a_real_gpus_container_is_classified_as_hook_injected(
        dockerd_factory: DockerdFactory, nvidia_root: Path, tmp_path: Path) -> None:
    d = hook_daemon(dockerd_factory, tmp_path, {})
    image = ensure_busybox_image(d)
    d.docker("run", "-d", "--name", "trainer", "--gpus", "all", image, "sleep", "120")
    d.docker("create", "--name", "plain", image, "true")
    try:
        inspect = json.loads(d.docker("inspect", "trainer").stdout)[0]
        # the shape the host-root fixtures copy (nvidia_layer_roots.gpus_request)
        [request] = inspect["HostConfig"]["DeviceRequests"]
        assert request["Driver"] == "" and request["Capabilities"] == [["gpu"]]
        assert request["Count"] == -1
        facts = Facts(cr.LiveDockerOverRoot(nvidia_root, env=env_of(d, tmp_path)))
        found = {c.name: c for c in containers(facts) or []}
        assert found["trainer"].injection == "hook" and found["trainer"].running
        assert found["plain"].injection == ""
        # cgroupfs: nothing to lose on a daemon-reload, so no warning
        report = diagnose(d, nvidia_root, tmp_path)
        assert check_of(report, "nvidia.cgroup_devices")["status"] == "pass"
    finally:
        d.docker("rm", "-f", "trainer", "plain", check=False)


def cuda_image(d: Dockerd, tag: str, requirement: str) -> str:
    """An image from the busybox rootfs whose configuration carries NVIDIA_REQUIRE_CUDA."""
    d.docker("import", "--change", f'ENV NVIDIA_REQUIRE_CUDA="{requirement}"',
             "--change", "ENV NVIDIA_VISIBLE_DEVICES=all", str(busybox_rootfs_tar()), tag)
    return tag


def test_image_needing_a_newer_driver_is_found_before_running_it(
        dockerd_factory: DockerdFactory, nvidia_root: Path, tmp_path: Path) -> None:
    d = hook_daemon(dockerd_factory, tmp_path, {})
    new = cuda_image(d, "gpudoctor-test/cuda:13.1", REQUIRE_CUDA_13_1)
    old = cuda_image(d, "gpudoctor-test/cuda:12.8", REQUIRE_CUDA_12_8)
    env = json.loads(d.docker("image", "inspect", new).stdout)[0]["Config"]["Env"]
    assert f"NVIDIA_REQUIRE_CUDA={REQUIRE_CUDA_13_1}" in env

    check = check_of(diagnose(d, nvidia_root, tmp_path, image=new), "nvidia.cuda_requirement")
    assert check["status"] == "fail", check
    assert check["findings"] == ["nvidia.cuda_requirement.unsatisfied"]
    assert "needs CUDA 13.1, newer than the driver's 13.0" in check["summary"]
    assert "NVIDIA_DISABLE_REQUIRE" in check["remedy"]
    fine = check_of(diagnose(d, nvidia_root, tmp_path, image=old), "nvidia.cuda_requirement")
    assert fine["status"] == "pass", fine

    # an existing container of the new image is named too
    d.docker("create", "--name", "newcuda", "--gpus", "all", new, "true")
    try:
        check = check_of(diagnose(d, nvidia_root, tmp_path), "nvidia.cuda_requirement")
        assert check["status"] == "warn"
        assert "container newcuda" in check["summary"]
    finally:
        d.docker("rm", "-f", "newcuda", check=False)


def test_verify_reads_the_requirement_before_running_anything(
        dockerd_factory: DockerdFactory, nvidia_root: Path, tmp_path: Path) -> None:
    from gpudoctor.verify import VerifyRequest, run_verification

    d = hook_daemon(dockerd_factory, tmp_path, {})
    new = cuda_image(d, "gpudoctor-test/cuda:13.1", REQUIRE_CUDA_13_1)
    old = cuda_image(d, "gpudoctor-test/cuda:12.8", REQUIRE_CUDA_12_8)

    def verify(image: str, *extra: str):
        facts = Facts(cr.LiveDockerOverRoot(nvidia_root, env=env_of(d, tmp_path)))
        return run_verification(facts, VerifyRequest(args=["--gpus=all", *extra], image=image))

    refused = verify(new)
    assert refused.verdict == "fail"
    assert refused.cause is not None and refused.cause.id == "cuda-requirement"
    assert "nvidia.cuda_requirement" in refused.cause.checks
    assert "supports CUDA 13.0" in refused.cause.details
    assert "Found before running anything" in refused.cause.details
    assert not any({"run", "create"} & set(argv) for argv in refused.commands)
    assert d.docker("ps", "-aq").stdout.strip() == ""
    # the person's own last resort turns the check off, as it does in the toolkit
    disabled = verify(new, "--env=NVIDIA_DISABLE_REQUIRE=true")
    assert disabled.cause is None or disabled.cause.id != "cuda-requirement"
    fits = verify(old)
    assert fits.cause is None or fits.cause.id != "cuda-requirement"
