"""The container stack checks against the real test dockerd.

Each daemon is started with the configuration the test needs. gpudoctor runs as a person runs
it (a subprocess, `DOCKER_HOST`, an unprivileged user) where only the daemon matters; where the
NVIDIA checks must run, the diagnosis runs in-process on `LiveDockerOverRoot`: this machine and
its real dockerd, with NVIDIA hardware read from a host root. What gpudoctor predicts (a failing
restart, `could not select device driver`, a container that will not start) is then checked
against dockerd itself.
"""

from __future__ import annotations

import grp
import json
import os
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from gpudoctor.facts import Facts, Options
from gpudoctor.facts.nvidia_args import nvidia_gpu_args
from gpudoctor.report import Doctor
from tests.support import container_roots as cr
from tests.support.cli import check_of, run_gpudoctor, validate_report
from tests.support.docker_fixtures import DockerdFactory
from tests.support.dockerd import Dockerd, ensure_busybox_image, install_standins
from tests.support.unprivileged import Unprivileged

pytestmark = pytest.mark.docker


def person_env(d: Dockerd, home: Path) -> dict[str, str]:
    """The environment of a person whose `docker` talks to d (no sudo, own HOME)."""
    env = {k: v for k, v in os.environ.items()
           if k not in ("SUDO_USER", "DOCKER_CONTEXT", "DOCKER_CONFIG")}
    env["DOCKER_HOST"] = d.host
    env["HOME"] = str(home)
    return env


def cli_report(d: Dockerd, home: Path) -> dict[str, Any]:
    """`gpudoctor --json` as the person runs it (this machine has no GPU: gpu.present fails,
    so the exit code is 1 whatever the daemon does)."""
    run = run_gpudoctor("--json", env=person_env(d, home))
    assert run.returncode in (0, 1), run.stderr
    report = validate_report(run.json)
    failed = any(c["status"] == "fail" for c in report["checks"])
    assert run.returncode == (1 if failed else 0)
    return report


@pytest.fixture(scope="module")
def nvidia_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return cr.nvidia_hardware(tmp_path_factory.mktemp("hw") / "root")


def diagnose(d: Dockerd, hardware: Path, home: Path) -> dict[str, Any]:
    """The whole diagnosis, in-process, of the real daemon on NVIDIA hardware from a root."""
    host = cr.LiveDockerOverRoot(hardware, env=person_env(d, home))
    doctor = Doctor(host=host, options=Options())
    doctor.run()
    return validate_report(doctor.report())


# ----- which daemon, and the file it reads -------------------------------------------------------
def test_daemon_found_through_docker_host_and_its_process(shared_dockerd: Dockerd,
                                                           tmp_path: Path) -> None:
    report = cli_report(shared_dockerd, tmp_path)
    daemon = check_of(report, "docker.daemon")
    assert daemon["status"] == "pass", daemon
    assert shared_dockerd.host in daemon["summary"]
    # read live from dockerd's own command line (--config-file), not assumed
    assert str(shared_dockerd.config_file) in daemon["summary"]
    evidence = "\n".join(daemon["evidence"])
    assert f"endpoint: {shared_dockerd.host} (from DOCKER_HOST)" in evidence
    assert f"dockerd: pid {shared_dockerd.pid}, UID 0" in evidence
    assert "`--config-file` on dockerd's command line" in evidence
    assert "answers: Docker 20.10" in evidence
    containers = check_of(report, "docker.containers")
    assert containers["status"] == "pass"


def test_daemon_found_through_the_current_docker_context(shared_dockerd: Dockerd,
                                                         tmp_path: Path) -> None:
    import hashlib

    docker_dir = tmp_path / ".docker"
    meta = docker_dir / "contexts/meta" / hashlib.sha256(b"gpu-box").hexdigest() / "meta.json"
    meta.parent.mkdir(parents=True)
    meta.write_text(json.dumps({"Name": "gpu-box", "Metadata": {}, "Endpoints": {
        "docker": {"Host": shared_dockerd.host, "SkipTLSVerify": False}}}))
    (docker_dir / "config.json").write_text('{"currentContext": "gpu-box"}')
    # the CLI itself agrees on where that context points
    env = person_env(shared_dockerd, tmp_path)
    del env["DOCKER_HOST"]
    cli = subprocess.run(["docker", "context", "inspect", "--format",
                          "{{.Endpoints.docker.Host}}"], env=env, capture_output=True,
                         text=True, timeout=30, check=False)
    assert cli.stdout.strip() == shared_dockerd.host, cli.stderr
    run = run_gpudoctor("--json", env=env)
    daemon = check_of(validate_report(run.json), "docker.daemon")
    assert daemon["status"] == "pass", daemon
    assert "(from the docker context `gpu-box`)" in daemon["evidence"][0]
    assert str(shared_dockerd.config_file) in daemon["summary"]


def test_config_edited_while_running_then_the_restart_fails(
        dockerd_factory: DockerdFactory, tmp_path: Path) -> None:
    d = dockerd_factory(config={"labels": ["gpudoctor=live"]})
    report = cli_report(d, tmp_path)
    daemon = check_of(report, "docker.daemon")
    assert daemon["status"] == "pass"
    assert f"{d.config_file}: valid JSON (labels)" in daemon["evidence"]

    # a key that is also one of dockerd's flags (the test daemon runs with --data-root)
    d.config_file.write_text(json.dumps({"data-root": "/srv/docker"}))
    daemon = check_of(cli_report(d, tmp_path), "docker.daemon")
    assert daemon["status"] == "fail"
    assert "data-root set both in" in daemon["summary"]
    assert str(d.config_file) in daemon["summary"]
    assert f"--data-root={d.data_root}" in daemon["details"]
    assert "next restart will fail" in daemon["details"]

    # a trailing comma, as a hand edit leaves it
    d.config_file.write_text('{\n  "labels": ["gpudoctor=live"],\n}\n')
    daemon = check_of(cli_report(d, tmp_path), "docker.daemon")
    assert daemon["status"] == "fail"
    assert f"{d.config_file} has a syntax error at line 3, column 1" in daemon["summary"]
    assert "a trailing comma at line 2, column 31" in daemon["summary"]
    assert "Docker runs on the configuration it loaded" in daemon["details"]

    # the prediction holds: a reload is refused (the daemon keeps running), a restart fails
    d.reload()
    assert d.is_healthy()
    assert "invalid character '}'" in d.log_text().split("Reloaded configuration")[-1] or \
        "unable to configure" in d.log_text()
    with pytest.raises(RuntimeError, match="invalid character '}' looking for beginning of "
                                           "object key string"):
        d.restart()
    down = check_of(cli_report(d, tmp_path), "docker.daemon")
    assert down["status"] == "fail"
    assert f"no Docker daemon answers at {d.host}" in down["summary"]


def test_a_stopped_daemon_fails_with_what_to_do(dockerd_factory: DockerdFactory,
                                                tmp_path: Path) -> None:
    d = dockerd_factory(config={})
    socket = d.socket
    d.stop()
    report = cli_report(d, tmp_path)
    daemon = check_of(report, "docker.daemon")
    assert daemon["status"] == "fail"
    assert daemon["summary"] == f"no Docker daemon answers at {d.host}"
    assert str(socket) in daemon["details"]
    assert "sudo systemctl start docker" in daemon["remedy"]
    assert check_of(report, "docker.containers")["status"] == "skip"


# ----- a socket the person cannot open ----------------------------------------------------------
def _run_as_nobody(d: Dockerd, unprivileged: Unprivileged) -> dict[str, Any]:
    env = unprivileged.env(DOCKER_HOST=d.host, HOME="/nonexistent")
    proc = subprocess.run(unprivileged.argv("--json"), env=env, cwd="/", capture_output=True,
                          text=True, timeout=120, check=False)
    assert "Traceback" not in proc.stderr, proc.stderr
    assert proc.returncode == 1, (proc.returncode, proc.stderr, proc.stdout[-2000:])
    return validate_report(json.loads(proc.stdout))


@pytest.fixture
def reachable_base() -> Iterator[Path]:
    """A daemon folder every user may traverse, so only the socket's own mode decides."""
    base = Path(tempfile.mkdtemp(prefix="gd-sock-", dir="/tmp"))
    base.chmod(0o755)
    yield base
    subprocess.run(["rm", "-rf", str(base)], check=False, timeout=60)


def test_socket_the_person_cannot_open(reachable_base: Path, dockerd_factory: DockerdFactory,
                                       unprivileged: Unprivileged) -> None:
    # reachable_base first: it is set up before, and removed after, the daemon
    d = dockerd_factory(base=reachable_base / "d", config={})
    (reachable_base / "d").chmod(0o755)
    d.socket.parent.chmod(0o755)
    # root:root 0660: only root may use it
    os.chown(d.socket, 0, 0)
    d.socket.chmod(0o660)
    daemon = check_of(_run_as_nobody(d, unprivileged), "docker.daemon")
    assert daemon["status"] == "fail"
    assert f"nobody cannot use the Docker socket {d.socket}" in daemon["summary"]
    assert "permission denied" in daemon["details"]
    assert "only root may use it" in daemon["details"]
    assert "mode 0660" in daemon["details"]

    # a group the person is not in: the remedy names it
    group = next(g for g in grp.getgrall() if g.gr_gid not in (0, 65534) and
                 "nobody" not in g.gr_mem)
    os.chown(d.socket, 0, group.gr_gid)
    daemon = check_of(_run_as_nobody(d, unprivileged), "docker.daemon")
    assert daemon["status"] == "fail"
    assert f"sudo usermod -aG {group.gr_name} nobody" in daemon["remedy"]
    assert f"`{group.gr_name}` (GID {group.gr_gid})" in daemon["details"]


# ----- the nvidia runtime ----------------------------------------------------------------------
def _runtime_config(bin_dir: Path) -> dict[str, Any]:
    install_standins(bin_dir, ["nvidia-container-runtime"])
    return {"runtimes": {"nvidia": {"path": str(bin_dir / "nvidia-container-runtime")}}}


def test_runtime_declared_and_loaded_gives_working_runtime_args(
        dockerd_factory: DockerdFactory, nvidia_root: Path, tmp_path: Path) -> None:
    log = tmp_path / "runtime.log"
    d = dockerd_factory(config=_runtime_config(tmp_path / "bin"),
                        env={"GPUDOCTOR_RUNTIME_LOG": str(log)})
    report = diagnose(d, nvidia_root, tmp_path)
    runtime = check_of(report, "docker.nvidia_runtime")
    assert runtime["status"] == "pass", runtime
    assert f"declared in {d.config_file} and loaded" in runtime["summary"]
    # no hook on dockerd's PATH: the runtime is the way, and only because it is loaded
    assert report["docker_run_args"] == ["--runtime=nvidia", "--env=NVIDIA_VISIBLE_DEVICES=all"]
    image = ensure_busybox_image(d)
    d.docker("run", "--rm", *report["docker_run_args"], image, "true")
    assert "nvidia-container-runtime" in log.read_text()


def test_runtime_declared_but_not_loaded_until_reload(dockerd_factory: DockerdFactory,
                                                      nvidia_root: Path,
                                                      tmp_path: Path) -> None:
    d = dockerd_factory(config={})
    d.config_file.write_text(json.dumps(_runtime_config(tmp_path / "bin")))
    report = diagnose(d, nvidia_root, tmp_path)
    runtime = check_of(report, "docker.nvidia_runtime")
    assert runtime["status"] == "fail"
    assert runtime["fixes"] == ["docker.reload"]
    assert f"declared in {d.config_file} but the running daemon has not loaded it" in \
        runtime["summary"]
    image = ensure_busybox_image(d)
    refused = d.docker("run", "--rm", "--runtime=nvidia", image, "true", check=False)
    assert refused.returncode != 0
    # the exact error the person gets is the one gpudoctor quotes
    said = refused.stderr.split("Error response from daemon: ")[1].splitlines()[0].rstrip(".")
    assert f"`{said}`" in runtime["details"]
    d.reload()
    report = diagnose(d, nvidia_root, tmp_path)
    assert check_of(report, "docker.nvidia_runtime")["status"] == "pass"


def test_runtime_not_declared_is_a_warning_where_gpus_works(
        dockerd_factory: DockerdFactory, nvidia_root: Path, tmp_path: Path) -> None:
    hooks = tmp_path / "hooks"
    install_standins(hooks, ["nvidia-container-runtime-hook"])
    d = dockerd_factory(config={}, extra_path=[hooks])
    report = diagnose(d, nvidia_root, tmp_path)
    runtime = check_of(report, "docker.nvidia_runtime")
    assert runtime["status"] == "warn"
    assert runtime["fixes"] == ["docker.configure_nvidia_runtime", "docker.reload"]
    assert "`--gpus` works without it" in runtime["summary"]
    assert f"--config={d.config_file}" in runtime["remedy"]


def test_runtime_not_declared_and_no_hook_fails(shared_dockerd: Dockerd, nvidia_root: Path,
                                                tmp_path: Path) -> None:
    report = diagnose(shared_dockerd, nvidia_root, tmp_path)
    runtime = check_of(report, "docker.nvidia_runtime")
    assert runtime["status"] == "fail"
    assert runtime["fixes"] == ["docker.configure_nvidia_runtime", "docker.reload"]
    assert "`--gpus` does not work either" in runtime["details"]
    toolkit = check_of(report, "nvidia.toolkit")
    assert toolkit["status"] == "fail"
    assert toolkit["fixes"] == ["nvidia.install_toolkit"]


# ----- the hook: on dockerd's PATH at start, or only after ---------------------------------------
def test_hook_on_path_at_start_makes_gpus_all_work(dockerd_factory: DockerdFactory,
                                                    nvidia_root: Path, tmp_path: Path) -> None:
    hooks = tmp_path / "hooks"
    install_standins(hooks, ["nvidia-container-runtime-hook"])
    time.sleep(1.2)  # well apart from dockerd's start, whose recorded time can read 1 s early
    d = dockerd_factory(config={}, extra_path=[hooks])
    report = diagnose(d, nvidia_root, tmp_path)
    toolkit = check_of(report, "nvidia.toolkit")
    assert toolkit["status"] == "pass", toolkit
    assert "dockerd found its hook when it started" in toolkit["summary"]
    assert any(line.startswith(f"hook on dockerd's PATH: {hooks}/nvidia-container-runtime-hook")
               for line in toolkit["evidence"])
    assert "1.17.8" in toolkit["summary"]  # from the hook's own -version
    assert report["docker_run_args"] == ["--gpus=all"]
    image = ensure_busybox_image(d)
    out = d.docker("run", "--rm", *report["docker_run_args"], image, "nvidia-smi", "-L").stdout
    assert out.startswith("GPU 0: ")


def test_hook_added_after_start_needs_a_restart(dockerd_factory: DockerdFactory,
                                                nvidia_root: Path, tmp_path: Path) -> None:
    hooks = tmp_path / "hooks"
    hooks.mkdir()
    d = dockerd_factory(config={}, extra_path=[hooks])
    time.sleep(1.2)
    install_standins(hooks, ["nvidia-container-runtime-hook"])
    report = diagnose(d, nvidia_root, tmp_path)
    toolkit = check_of(report, "nvidia.toolkit")
    assert toolkit["status"] == "fail"
    assert toolkit["fixes"] == ["docker.reload"]
    assert "installed after dockerd started" in toolkit["summary"]
    assert f"dockerd (pid {d.pid}) started" in toolkit["details"]
    assert f"{hooks}/nvidia-container-runtime-hook was modified" in toolkit["details"]
    # exactly the field guide's failure, as gpudoctor said
    image = ensure_busybox_image(d)
    failed = d.docker("run", "--rm", "--gpus", "all", image, "true", check=False)
    assert 'could not select device driver "" with capabilities: [[gpu]]' in failed.stderr
    d.restart()
    report = diagnose(d, nvidia_root, tmp_path)
    assert check_of(report, "nvidia.toolkit")["status"] == "pass"
    assert report["docker_run_args"] == ["--gpus=all"]
    d.docker("run", "--rm", "--gpus=all", image, "nvidia-smi", "-L")


def test_nvidia_args_follow_the_daemon(shared_dockerd: Dockerd, nvidia_root: Path,
                                       tmp_path: Path) -> None:
    """No hook, no runtime, no CDI (Docker 20.10): --gpus=all, what the fixes make work."""
    facts = Facts(cr.LiveDockerOverRoot(nvidia_root, env=person_env(shared_dockerd, tmp_path)))
    assert facts.docker.reachable and "nvidia" not in facts.docker.runtimes
    assert facts.cdi.supported is False
    assert nvidia_gpu_args(facts) == ["--gpus=all"]


# ----- containers that will not start as created -------------------------------------------------
def test_reused_containers_with_a_gone_device_or_runtime(dockerd_factory: DockerdFactory,
                                                         tmp_path: Path) -> None:
    d = dockerd_factory(config=_runtime_config(tmp_path / "bin"))
    image = ensure_busybox_image(d)
    node = tmp_path / "renderD140"
    os.mknod(node, 0o020660, os.makedev(1, 3))
    d.docker("create", "--name", "old-render", f"--device={node}:/dev/dri/renderD128", image,
             "true")
    d.docker("create", "--name", "old-runtime", "--runtime=nvidia", image, "true")
    d.docker("create", "--name", "fine", image, "true")
    report = cli_report(d, tmp_path)
    assert check_of(report, "docker.containers")["status"] == "pass"

    node.unlink()
    d.config_file.write_text("{}\n")
    d.restart()
    containers = check_of(cli_report(d, tmp_path), "docker.containers")
    assert containers["status"] == "warn"
    assert "old-render" in containers["summary"] and "old-runtime" in containers["summary"]
    assert "fine" not in containers["summary"]
    evidence = "\n".join(containers["evidence"])
    assert f"old-render (created): --device {node}: the device file no longer exists" in evidence
    assert "old-runtime (created): created with --runtime=nvidia" in evidence
    # and dockerd agrees
    started = d.docker("start", "old-render", check=False)
    assert "error gathering device information while adding custom device" in started.stderr
    started = d.docker("start", "old-runtime", check=False)
    said = started.stderr.split("Error response from daemon: ")[1].splitlines()[0].rstrip(".")
    assert f"`{said}`" in evidence
