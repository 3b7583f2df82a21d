"""`gpudoctor explain --container`: containers made on the real test dockerd, in each state.

- exited with an error in its log: the state, exit code and log are read, the error recognised;
- created with a device file that has since gone: the configuration no longer fits the host;
- created with `--gpus` on a daemon without the NVIDIA hook (never started): named as such, with
  the hook's cause confirmed on NVIDIA hardware (read from a host root).
"""

from __future__ import annotations

import json
import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from gpudoctor.explain.container import explain_container
from gpudoctor.facts import Options
from gpudoctor.report import Doctor
from tests.support import container_roots as cr
from tests.support.cli import run_gpudoctor
from tests.support.dockerd import Dockerd, ensure_busybox_image, start_dockerd

pytestmark = pytest.mark.docker
IMAGE = "gpudoctor-test/busybox:latest"


@pytest.fixture(scope="module")
def daemon(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Dockerd]:
    """A daemon of a host without nvidia-container-toolkit (no hook on its PATH)."""
    try:
        d = start_dockerd(tmp_path_factory.mktemp("explain-d") / "d", config={})
    except RuntimeError as exc:
        pytest.fail(f"could not start a test dockerd: {exc}", pytrace=False)
    ensure_busybox_image(d)
    yield d
    d.stop()


def env_for(d: Dockerd) -> dict[str, str]:
    return {"DOCKER_HOST": d.host}


def test_exited_with_an_error_in_its_log(daemon: Dockerd) -> None:
    daemon.docker("run", "--name", "rocm-app", IMAGE, "sh", "-c",
                  "echo starting; echo 'hipErrorNoBinaryForGpu: Unable to find code object for "
                  "all current devices!' >&2; exit 1", check=False)
    run = run_gpudoctor("explain", "--json", "--container", "rocm-app", env=env_for(daemon))
    doc = json.loads(run.stdout)
    assert doc["container"]["state"] == "exited" and doc["container"]["exit_code"] == 1
    assert "starting" in doc["container"]["log_tail"]
    assert [c["cause"]["id"] for c in doc["causes"]] == ["hip-no-binary"]
    text = run_gpudoctor("explain", "--container", "rocm-app", env=env_for(daemon))
    assert "Container rocm-app" in text.stdout and "exited, exit code 1" in text.stdout
    assert "hipErrorNoBinaryForGpu" in text.stdout


def test_created_with_a_device_that_no_longer_exists(daemon: Dockerd, tmp_path: Path) -> None:
    node = tmp_path / "renderD200"
    os.mknod(node, stat.S_IFCHR | 0o660, os.makedev(1, 3))
    daemon.docker("create", "--name", "moved-node", f"--device={node}:/dev/dri/renderD128",
                  "--group-add=110", IMAGE, "true")
    node.unlink()
    run = run_gpudoctor("explain", "--json", "--container", "moved-node", env=env_for(daemon))
    assert run.returncode == 1, run.stderr
    doc = json.loads(run.stdout)
    assert doc["container"]["state"] == "created"
    assert f"--device={node}" in doc["container"]["gpu_config"]
    assert "--group-add=110" in doc["container"]["gpu_config"]
    assert doc["problems"] == [f"--device {node}: the device file no longer exists"]
    # the daemon agrees: starting it fails exactly as gpudoctor said it would
    started = daemon.docker("start", "moved-node", check=False)
    assert started.returncode != 0 and "no such file or directory" in started.stderr


def test_created_with_gpus_before_the_hook_existed(daemon: Dockerd, tmp_path: Path) -> None:
    daemon.docker("create", "--name", "early-gpus", "--gpus=all", IMAGE, "true")
    hardware = cr.nvidia_hardware(tmp_path / "hw")
    host = cr.LiveDockerOverRoot(hardware, env=dict(os.environ, DOCKER_HOST=daemon.host))
    story = explain_container(Doctor(host=host, options=Options()), "early-gpus")
    assert story.state == "created"
    assert story.gpu_config[0].startswith("device request driver=(any) devices=all")
    assert any("never started" in n for n in story.notes)
    assert story.problems == ["created with --gpus (driver any), but the daemon has no NVIDIA "
                              "device driver now: `could not select device driver \"\" with "
                              "capabilities: [[gpu]]`"]
    assert story.confirmed
    started = daemon.docker("start", "early-gpus", check=False)
    assert 'could not select device driver "" with capabilities: [[gpu]]' in started.stderr
    # once started and failed, the daemon's error is recognised and confirmed on this host
    story = explain_container(Doctor(host=host, options=Options()), "early-gpus")
    assert [(v.cause.id, v.verdict) for v in story.verdicts] == [
        ("gpus-driver-not-registered", "confirmed")]


def test_unknown_container_is_a_one_line_error(daemon: Dockerd) -> None:
    run = run_gpudoctor("explain", "--container", "no-such-thing", env=env_for(daemon))
    assert run.returncode == 2 and "no container named" in run.stderr
    assert run.stderr.count("\n") == 1
