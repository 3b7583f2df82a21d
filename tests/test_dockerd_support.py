"""Prove the real-dockerd test support behaves like the docker setups gpudoctor diagnoses.

Each test checks something a user would see (command output, error text) or a real
state change, against a real dockerd 20.10 started privately for the test.
"""

from __future__ import annotations

import os
import shutil
import signal
import time
from pathlib import Path

import pytest

from tests.support.docker_fixtures import DockerdFactory
from tests.support.dockerd import (
    DOCKER_CLI,
    SYSTEM_PATH,
    Dockerd,
    ensure_busybox_image,
    pid_alive,
    start_dockerd,
)
from tests.support.standins import install_standins, standin_dir

GPU_LINE = "GPU 0: NVIDIA H100 80GB HBM3 (UUID: GPU-5c6b1f8e-0000-4000-8000-000000000000)"
NO_GPU_DRIVER = 'could not select device driver "" with capabilities: [[gpu]]'

pytestmark = pytest.mark.docker


def test_cli_is_debian_client_matching_the_daemon() -> None:
    """The v28 client in /usr/local/bin must not be picked silently when Debian's exists."""
    if Path("/usr/bin/docker").exists() and "GPUDOCTOR_TEST_DOCKER_CLI" not in os.environ:
        assert DOCKER_CLI == "/usr/bin/docker"


def test_info_shows_private_data_root(shared_dockerd: Dockerd) -> None:
    info = shared_dockerd.info()
    assert info["DockerRootDir"] == str(shared_dockerd.data_root)
    assert info["Driver"] == "vfs"
    assert info["CgroupDriver"] == "cgroupfs"
    assert shared_dockerd.is_healthy()
    assert shared_dockerd.pidfile.read_text().strip() == str(shared_dockerd.pid)
    # The CLI reaches the same private daemon through DOCKER_HOST.
    out = shared_dockerd.docker("info", "--format", "{{.DockerRootDir}}").stdout.strip()
    assert out == str(shared_dockerd.data_root)


def test_run_busybox_echo(shared_dockerd: Dockerd, busybox_image: str) -> None:
    result = shared_dockerd.docker("run", "--rm", busybox_image, "echo", "hi")
    assert result.stdout == "hi\n"


def test_busybox_image_users_and_groups(shared_dockerd: Dockerd, busybox_image: str) -> None:
    script = "id -u gpuuser; id -g gpuuser; grep -E '^(video|render):' /etc/group; ls -ld /tmp"
    out = shared_dockerd.docker("run", "--rm", busybox_image, "sh", "-c", script).stdout
    lines = out.splitlines()
    assert lines[:4] == ["1000", "1000", "video:x:44:", "render:x:109:"]
    assert lines[4].startswith("drwxrwxrwt")
    # Idempotent: a second call does not re-import (image id unchanged).
    before = shared_dockerd.docker("image", "inspect", "-f", "{{.Id}}", busybox_image).stdout
    assert ensure_busybox_image(shared_dockerd) == busybox_image
    after = shared_dockerd.docker("image", "inspect", "-f", "{{.Id}}", busybox_image).stdout
    assert before == after


def test_device_node_and_group_add(
    shared_dockerd: Dockerd, busybox_image: str, tmp_path: Path
) -> None:
    node = tmp_path / "renderD128"
    os.mknod(node, 0o666 | 0o020000, os.makedev(1, 3))  # S_IFCHR, like /dev/null
    result = shared_dockerd.docker(
        "run", "--rm",
        f"--device={node}:/dev/dri/renderD128",
        "--group-add=4242",
        "--user=gpuuser",
        busybox_image,
        "sh", "-c", 'stat -c "%F %t:%T" /dev/dri/renderD128; id -G',
    )  # fmt: skip
    kind, groups = result.stdout.splitlines()
    # busybox stat prints major/minor in hex; 1:3 is the same in hex.
    assert kind == "character special file 1:3"
    assert groups.split() == ["1000", "4242"]


def _hook_dir(tmp_path: Path) -> Path:
    """A fresh PATH dir for dockerd, checked to not hide a real hook behind it."""
    assert shutil.which("nvidia-container-runtime-hook", path=SYSTEM_PATH) is None, (
        "a real nvidia-container-runtime-hook is on the system PATH; these tests need a "
        "host without nvidia-container-toolkit"
    )
    hooks = tmp_path / "hookbin"
    hooks.mkdir()
    return hooks


def test_gpus_all_works_when_hook_on_path_at_start(
    dockerd_factory: DockerdFactory, tmp_path: Path
) -> None:
    hooks = _hook_dir(tmp_path)
    install_standins(hooks, ["nvidia-container-runtime-hook"])
    hook_log = tmp_path / "hook.log"
    d = dockerd_factory(extra_path=[hooks], env={"GPUDOCTOR_HOOK_LOG": str(hook_log)})
    assert d.path_env.startswith(f"{hooks}{os.pathsep}")
    image = ensure_busybox_image(d)
    result = d.docker("run", "--rm", "--gpus", "all", image, "nvidia-smi", "-L")
    assert result.stdout.strip() == GPU_LINE
    logged = hook_log.read_text()
    assert "prestart" in logged and "NVIDIA_VISIBLE_DEVICES=all" in logged
    # Without --gpus the hook is not attached, so nvidia-smi is simply absent.
    plain = d.docker("run", "--rm", image, "sh", "-c", "command -v nvidia-smi || echo absent")
    assert plain.stdout.strip() == "absent"


def test_gpus_fails_when_hook_added_after_start(
    dockerd_factory: DockerdFactory, tmp_path: Path
) -> None:
    hooks = _hook_dir(tmp_path)
    d = dockerd_factory(extra_path=[hooks])
    image = ensure_busybox_image(d)
    install_standins(hooks, ["nvidia-container-runtime-hook"])  # too late: lookup ran at init
    result = d.docker("run", "--rm", "--gpus", "all", image, "true", check=False)
    assert result.returncode != 0
    assert NO_GPU_DRIVER in result.stderr
    # A restart re-runs dockerd's init lookup, which is the real-world fix.
    d.restart()
    fixed = d.docker("run", "--rm", "--gpus", "all", image, "nvidia-smi", "-L")
    assert fixed.stdout.strip() == GPU_LINE


def test_runtime_nvidia_runs_container(dockerd_factory: DockerdFactory, tmp_path: Path) -> None:
    runtime = standin_dir() / "nvidia-container-runtime"
    runtime_log = tmp_path / "runtime.log"
    d = dockerd_factory(
        config={"runtimes": {"nvidia": {"path": str(runtime)}}},
        env={"GPUDOCTOR_RUNTIME_LOG": str(runtime_log)},
    )
    assert "nvidia" in d.info()["Runtimes"]
    image = ensure_busybox_image(d)
    result = d.docker("run", "--name", "rt", "--runtime=nvidia", image, "echo", "via-nvidia")
    assert result.stdout == "via-nvidia\n"
    used = d.docker("inspect", "-f", "{{.HostConfig.Runtime}}", "rt").stdout.strip()
    assert used == "nvidia"
    assert " create " in runtime_log.read_text()
    d.docker("rm", "rt")


def test_malformed_config_raises_with_dockerd_error(tmp_path: Path) -> None:
    base = tmp_path / "bad"
    with pytest.raises(RuntimeError) as excinfo:
        start_dockerd(base, config='{"a": 1,}')
    message = str(excinfo.value)
    assert "invalid character '}' looking for beginning of object key string" in message
    assert (base / "daemon.json").read_text() == '{"a": 1,}'


def test_two_daemons_at_once_and_stop_cleans_up(
    dockerd_factory: DockerdFactory,
) -> None:
    a = dockerd_factory()
    b = dockerd_factory(config={"labels": ["which=b"]})
    assert a.socket != b.socket and a.exec_root != b.exec_root
    info_a, info_b = a.info(), b.info()
    # (Engine "ID" is the same: dockerd 20.10 derives it from the shared /etc/docker/key.json.)
    assert info_a["DockerRootDir"] == str(a.data_root) != info_b["DockerRootDir"]
    assert info_b["Labels"] == ["which=b"] and not info_a["Labels"]
    image_a, image_b = ensure_busybox_image(a), ensure_busybox_image(b)
    a.docker("run", "-d", "--name", "busy", "--stop-timeout=1", image_a, "sleep", "300")
    assert a.docker("ps", "-q").stdout.strip()
    assert b.docker("ps", "-q").stdout.strip() == ""
    assert b.docker("run", "--rm", image_b, "echo", "b-ok").stdout == "b-ok\n"
    containerd_a = int((a.exec_root / "containerd" / "containerd.pid").read_text())

    t0 = time.monotonic()
    a.stop()
    assert time.monotonic() - t0 < 15
    assert a.pid is None and not a.is_healthy(timeout=1)
    assert not pid_alive(containerd_a)
    assert a.leftover_processes() == []
    assert b.is_healthy(), "stopping one daemon must not disturb the other"
    b.stop()
    assert b.leftover_processes() == []


def _mounts_under(path: Path) -> list[str]:
    points = [line.split()[4] for line in Path("/proc/self/mountinfo").read_text().splitlines()]
    return [p for p in points if (p + "/").startswith(f"{path}/")]


def test_stop_after_dockerd_was_killed_leaves_nothing(dockerd_factory: DockerdFactory) -> None:
    """A crashed dockerd leaves shim, container and a data-root bind mount; stop() removes them."""
    d = dockerd_factory()
    image = ensure_busybox_image(d)
    cid = d.docker("run", "-d", image, "sleep", "300").stdout.strip()
    container_pid = int(d.docker("inspect", "-f", "{{.State.Pid}}", cid).stdout)
    assert d.proc is not None and d.pid is not None
    os.kill(d.pid, signal.SIGKILL)
    d.proc.wait(timeout=10)
    assert pid_alive(container_pid), "the shim keeps the container alive without dockerd"
    assert _mounts_under(d.data_root), "dockerd 20.10 bind-mounts its data root onto itself"
    d.stop()
    assert not pid_alive(container_pid)
    assert d.leftover_processes() == []
    assert _mounts_under(d.data_root) == []


def test_reload_applies_config(dockerd_factory: DockerdFactory) -> None:
    # "storage-driver" in the file would clash with our --storage-driver flag; the
    # helper drops its flag so the test's daemon.json is used as written.
    d = dockerd_factory(config={"labels": ["v=1"], "storage-driver": "vfs"})
    assert "--storage-driver=vfs" not in d.args
    d.config_file.write_text('{"labels": ["v=2"], "storage-driver": "vfs"}')
    d.reload()
    assert d.info()["Labels"] == ["v=2"]
    d.config_file.write_text('{"labels": ["v=3"],}')
    d.reload()  # a broken file is rejected on reload; the daemon keeps running
    assert "unable to configure the Docker daemon" in d.log_text()
    assert d.is_healthy() and d.info()["Labels"] == ["v=2"]
