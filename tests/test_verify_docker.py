"""`gpudoctor verify` and docker.smoke against a real dockerd with busybox containers.

AMD-style runs pass device nodes made with mknod (tests/support/verify_support.py); NVIDIA-style
runs use the stand-in toolkit (hook, runtime, nvidia-smi) on the test daemon's PATH, which
exercises dockerd 20.10's real `--gpus` driver registration. Every JSON document is validated
against the shipped schema, and every test checks that no verify container is left behind.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from gpudoctor.facts import Facts, Options
from gpudoctor.facts.gpus import Gpu, Inventory
from gpudoctor.host.live import LiveHost
from gpudoctor.runner import run_checks
from gpudoctor.verify import VerifyRequest, run_verification
from tests.support.cli import check_of, run_gpudoctor, validate_report
from tests.support.docker_fixtures import DockerdFactory
from tests.support.dockerd import DEFAULT_BUSYBOX_TAG, Dockerd, ensure_busybox_image, start_dockerd
from tests.support.standins import install_standins, standin_dir
from tests.support.verify_support import env_for, items, make_node, verify_containers, verify_doc

pytestmark = pytest.mark.docker

GPU_LINE = "GPU 0: NVIDIA H100 80GB HBM3 (UUID: GPU-5c6b1f8e-0000-4000-8000-000000000000)"
NO_GPU_DRIVER = ('Error response from daemon: could not select device driver "" with '
                 "capabilities: [[gpu]]")


def _daemon(base: Path, **kw) -> Dockerd:
    try:
        d = start_dockerd(base, **kw)
    except RuntimeError as exc:
        pytest.fail(f"could not start a test dockerd: {exc}", pytrace=False)
    ensure_busybox_image(d)
    return d


@pytest.fixture(scope="module")
def gpu_daemon(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Dockerd]:
    """A daemon started with the stand-in toolkit: the hook on its PATH, the nvidia runtime."""
    base = tmp_path_factory.mktemp("verify-gpu")
    hooks = base / "hookbin"
    install_standins(hooks, ["nvidia-container-runtime-hook"])
    runtime = standin_dir() / "nvidia-container-runtime"
    d = _daemon(base / "d", config={"runtimes": {"nvidia": {"path": str(runtime)}}},
                extra_path=[hooks], env={"GPUDOCTOR_HOOK_LOG": str(base / "hook.log"),
                                         "GPUDOCTOR_RUNTIME_LOG": str(base / "runtime.log")})
    yield d
    d.stop()


@pytest.fixture(scope="module")
def bare_daemon(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Dockerd]:
    """A daemon of a host without nvidia-container-toolkit."""
    assert shutil.which("nvidia-container-runtime-hook") is None, \
        "these tests need a host without a real nvidia-container-toolkit"
    d = _daemon(tmp_path_factory.mktemp("verify-bare") / "d", config={})
    yield d
    d.stop()


def verify(d: Dockerd, *args: str, timeout: float = 120):
    return run_gpudoctor("verify", *args, env=env_for(d), timeout=timeout)


# ----- AMD-style: device nodes -------------------------------------------------------------------
def test_amd_nodes_open_as_root_and_as_nonroot_with_added_groups(gpu_daemon: Dockerd,
                                                                 tmp_path: Path) -> None:
    kfd = make_node(tmp_path / "kfd", gid=4242)
    render = make_node(tmp_path / "renderD128", gid=4243, minor=5)
    run = verify(gpu_daemon, "--json", "--", f"--device={kfd}:/dev/kfd",
                 f"--device={render}:/dev/dri/renderD128", "--group-add=4242",
                 "--group-add=4243")
    assert run.returncode == 0, run.stdout + run.stderr
    doc = verify_doc(run)
    assert doc["verdict"] == "pass" and doc["cause"] is None and doc["error"] is None
    assert doc["image"] == DEFAULT_BUSYBOX_TAG and doc["image_source"] == "present"
    assert doc["args_source"] == "command line" and doc["method"] == "docker"
    assert doc["endpoint"] == gpu_daemon.host
    assert doc["expected"]["devices"] == ["/dev/kfd", "/dev/dri/renderD128"]
    devices = items(doc, "device")
    assert [(i["target"], i["user"], i["status"]) for i in devices] == [
        ("/dev/kfd", "root", "pass"), ("/dev/kfd", "65534:65534", "pass"),
        ("/dev/dri/renderD128", "root", "pass"), ("/dev/dri/renderD128", "65534:65534", "pass")]
    assert "character device 1:5, mode 0660, owner 0:4243" in devices[2]["evidence"][0]
    groups = items(doc, "groups")[0]
    assert groups["status"] == "pass" and groups["summary"] == "65534:65534 holds 65534 4242 4243"
    assert items(doc, "rocm")[0]["status"] == "pass"
    assert items(doc, "cleanup")[0]["status"] == "pass" and doc["removed"] is True
    create = doc["commands"][0]
    assert create[1] == "create" and f"--device={kfd}:/dev/kfd" in create
    assert verify_containers(gpu_daemon) == []


def test_amd_missing_node_is_mapped_to_its_cause(gpu_daemon: Dockerd, tmp_path: Path) -> None:
    missing = tmp_path / "kfd-that-is-not-there"
    render = make_node(tmp_path / "renderD128", gid=4243, minor=5)
    run = verify(gpu_daemon, "--json", "--", f"--device={missing}:/dev/kfd",
                 f"--device={render}:/dev/dri/renderD128")
    assert run.returncode == 1
    doc = verify_doc(run)
    assert doc["verdict"] == "fail"
    assert doc["error"] == ("Error response from daemon: error gathering device information "
                            f'while adding custom device "{missing}": no such file or directory')
    cause = doc["cause"]
    assert cause["id"] == "device-missing-on-host"
    assert cause["summary"] == (f"the daemon's host has no {missing}, which `--device` asks "
                                "Docker to pass")
    assert cause["checks"] == ["devices.nodes", "kernel.driver"]
    start = items(doc, "start")[0]
    assert start["status"] == "fail" and start["cause"] == "device-missing-on-host"
    assert items(doc, "device") == []  # nothing was probed: the container never ran
    assert doc["removed"] is True and verify_containers(gpu_daemon) == []


def test_nonroot_user_without_the_nodes_group_fails_and_the_remedy_works(
        gpu_daemon: Dockerd, tmp_path: Path) -> None:
    kfd = make_node(tmp_path / "kfd", gid=4242)
    render = make_node(tmp_path / "renderD128", gid=4242, minor=5)
    args = [f"--device={kfd}:/dev/kfd", f"--device={render}:/dev/dri/renderD128"]
    run = verify(gpu_daemon, "--", *args)
    assert run.returncode == 1
    out = run.stdout
    assert "[✓] /dev/kfd opened read-write as root" in out
    assert ("[✗] /dev/kfd cannot be opened read-write as 65534:65534: Permission denied"
            in out)
    assert ("FAIL: 65534:65534 in the container does not hold GID 4242, which owns /dev/kfd"
            in out)
    assert "Add `--group-add=4242`" in out and "group_add: ['4242']" in out
    assert "see: checks groups.render" in out
    # the person's own non-root user is the one tested
    own = verify_doc(verify(gpu_daemon, "--json", "--", *args, "--user=1000:1000"))
    failing = [i for i in own["items"] if i["status"] == "fail"]
    assert {(i["target"], i["user"]) for i in failing} == {
        ("/dev/kfd", "1000:1000"), ("/dev/dri/renderD128", "1000:1000")}
    assert own["cause"]["id"] == "group-not-held"
    assert own["expected"]["users"] == ["root", "1000:1000"]
    # following the remedy makes it pass
    fixed = verify(gpu_daemon, "--json", "--", *args, "--user=1000:1000", "--group-add=4242")
    assert fixed.returncode == 0 and verify_doc(fixed)["verdict"] == "pass"
    assert verify_containers(gpu_daemon) == []


def test_integrated_gpu_leaking_through_dev_dri_is_caught(gpu_daemon: Dockerd,
                                                          tmp_path: Path) -> None:
    """With an inventory like the AMD field guide's (dGPU 07:00.0, Phoenix iGPU c8:00.0)."""
    dri = tmp_path / "dri"
    kfd = make_node(tmp_path / "kfd", gid=4242)
    discrete = make_node(dri / "renderD128", gid=4242, minor=5)
    integrated = make_node(dri / "renderD129", gid=4242, minor=7)
    inventory = Inventory(gpus=[
        Gpu(pci="0000:07:00.0", vendor="amd", vendor_id=0x1002, device_id=0x7480,
            pci_class=0x030000, sysfs_path="/sys/bus/pci/devices/0000:07:00.0",
            name="Navi 33", driver="amdgpu", render=str(discrete), integrated=False,
            selected=True),
        Gpu(pci="0000:c8:00.0", vendor="amd", vendor_id=0x1002, device_id=0x15bf,
            pci_class=0x030000, sysfs_path="/sys/bus/pci/devices/0000:c8:00.0",
            name="Phoenix1", driver="amdgpu", render=str(integrated), integrated=True,
            selected=False)])

    def verified(*args: str):
        host = LiveHost(env={**os.environ, "DOCKER_HOST": gpu_daemon.host})
        facts = Facts(host, Options())
        facts.memo("gpus", lambda: inventory)
        return run_verification(facts, VerifyRequest(args=list(args)))

    whole = verified(f"--device={kfd}:/dev/kfd", f"--device={dri}:/dev/dri", "--group-add=4242")
    leak = next(i for i in whole.items if i.id == "integrated")
    assert leak.status == "fail" and whole.verdict == "fail"
    assert "/dev/dri/renderD129 (c8:00.0 Phoenix1)" in leak.summary
    assert whole.cause is not None and whole.cause.id == "integrated-gpu-leaked"
    # /dev/dri passed whole: both nodes were expected and opened
    assert [d.path for d in whole.expected.devices] == [
        "/dev/kfd", "/dev/dri/renderD128", "/dev/dri/renderD129"]
    chosen = verified(f"--device={kfd}:/dev/kfd", f"--device={discrete}:/dev/dri/renderD128",
                      "--group-add=4242")
    assert chosen.verdict == "pass", [i.summary for i in chosen.items]
    ok = next(i for i in chosen.items if i.id == "integrated")
    assert ok.status == "pass" and ok.evidence == [f"left out: c8:00.0 Phoenix1 ({integrated})"]
    assert verify_containers(gpu_daemon) == []


# ----- NVIDIA-style: --gpus, the runtime, CDI ----------------------------------------------
def test_gpus_all_with_the_hook_on_the_daemons_path(gpu_daemon: Dockerd) -> None:
    hook_log = gpu_daemon.base.parent / "hook.log"
    before = hook_log.read_text() if hook_log.exists() else ""
    run = verify(gpu_daemon, "--json", "--", "--gpus", "all")
    assert run.returncode == 0, run.stdout
    doc = verify_doc(run)
    assert doc["verdict"] == "pass" and doc["expected"]["nvidia"] is True
    smi = items(doc, "nvidia-smi")
    assert [(i["user"], i["status"]) for i in smi] == [("root", "pass"),
                                                       ("65534:65534", "pass")]
    assert GPU_LINE in smi[0]["evidence"] and "NVIDIA_VISIBLE_DEVICES=all" in smi[1]["evidence"]
    assert doc["summary"] == ("a container with these arguments started and nvidia-smi lists "
                              "1 GPU(s) as root and 65534:65534")
    assert "prestart" in hook_log.read_text()[len(before):]  # the toolkit's hook really ran
    assert verify_containers(gpu_daemon) == []


def test_gpus_after_installing_the_hook_needs_a_restart(dockerd_factory: DockerdFactory,
                                                        tmp_path: Path) -> None:
    hooks = tmp_path / "hookbin"
    hooks.mkdir()
    d = dockerd_factory(extra_path=[hooks])
    ensure_busybox_image(d)
    first = verify_doc(verify(d, "--json", "--", "--gpus=all"))
    assert first["error"] == NO_GPU_DRIVER
    assert first["cause"]["id"] == "gpus-driver-not-registered"
    assert first["cause"]["fixes"] == ["nvidia.install_toolkit", "docker.reload"]
    assert first["cause"]["matched"] == NO_GPU_DRIVER
    # the toolkit gets installed while dockerd runs: same error, but now only a restart helps
    install_standins(hooks, ["nvidia-container-runtime-hook"])
    run = verify(d, "--json", "--", "--gpus=all")
    assert run.returncode == 1
    late = verify_doc(run)
    assert late["error"] == NO_GPU_DRIVER
    assert late["cause"]["summary"] == (
        "Docker has no NVIDIA device driver for --gpus: "
        f"{hooks}/nvidia-container-runtime-hook is on dockerd's PATH now, but dockerd started "
        "before it was there")
    assert late["cause"]["fixes"] == ["docker.reload"]
    assert "sudo systemctl restart docker" in late["cause"]["remedy"]
    composed = verify_doc(verify(d, "--json", "--compose", "--", "--gpus=all"))
    assert composed["cause"]["summary"] == (
        "Docker has no `nvidia` device driver (compose's `driver: nvidia`): "
        f"{hooks}/nvidia-container-runtime-hook is on dockerd's PATH now, but dockerd started "
        "before it was there")
    d.restart()
    assert verify_doc(verify(d, "--json", "--", "--gpus=all"))["verdict"] == "pass"
    assert verify_containers(d) == []


def test_runtime_nvidia_loaded(gpu_daemon: Dockerd) -> None:
    runtime_log = gpu_daemon.base.parent / "runtime.log"
    before = runtime_log.read_text() if runtime_log.exists() else ""
    doc = verify_doc(verify(gpu_daemon, "--json", "--", "--runtime=nvidia", "--gpus=all"))
    assert doc["verdict"] == "pass"
    assert items(doc, "runtime")[0]["summary"] == "the container runs with the `nvidia` runtime"
    assert " create " in runtime_log.read_text()[len(before):]
    # the runtime alone gives busybox no GPU: NVIDIA_VISIBLE_DEVICES is unset
    alone = verify(gpu_daemon, "--json", "--", "--runtime=nvidia")
    assert alone.returncode == 0
    warned = verify_doc(alone)
    assert warned["verdict"] == "warn"
    assert items(warned, "gpu-request")[0]["cause"] == "no-gpu-requested"
    assert "NVIDIA_VISIBLE_DEVICES is unset" in warned["summary"]
    assert verify_containers(gpu_daemon) == []


def test_runtime_nvidia_not_loaded_declared_then_reloaded(dockerd_factory: DockerdFactory
                                                          ) -> None:
    d = dockerd_factory(config={})
    ensure_busybox_image(d)
    run = verify(d, "--json", "--", "--runtime=nvidia")
    assert run.returncode == 1
    missing = verify_doc(run)
    assert missing["error"] == "Error response from daemon: Unknown runtime specified nvidia"
    assert missing["cause"]["id"] == "runtime-unknown"
    assert missing["cause"]["summary"] == (
        f"the running Docker daemon has no runtime named `nvidia` ({d.config_file} does not "
        "declare it)")
    assert missing["cause"]["fixes"] == ["docker.configure_nvidia_runtime", "docker.reload"]
    runtime = standin_dir() / "nvidia-container-runtime"
    d.config_file.write_text(f'{{"runtimes": {{"nvidia": {{"path": "{runtime}"}}}}}}\n')
    declared = verify_doc(verify(d, "--json", "--", "--runtime=nvidia"))
    assert declared["cause"]["summary"].endswith(
        f"{d.config_file} declares it, but the daemon has not loaded that file since")
    assert declared["cause"]["fixes"] == ["docker.reload"]
    d.reload()
    loaded = verify_doc(verify(d, "--json", "--", "--runtime=nvidia"))
    assert items(loaded, "runtime")[0]["status"] == "pass"
    assert verify_containers(d) == []


def test_cdi_device_on_a_daemon_without_cdi(gpu_daemon: Dockerd) -> None:
    doc = verify_doc(verify(gpu_daemon, "--json", "--", "--device=nvidia.com/gpu=all"))
    assert doc["verdict"] == "fail"
    client = subprocess.run([doc["commands"][0][0], "version", "--format",
                             "{{.Client.Version}}"], capture_output=True, text=True,
                            env={**os.environ, **env_for(gpu_daemon)}, timeout=30).stdout
    if int(client.split(".")[0]) >= 25:  # a CDI-aware CLI sends a CDI device request
        assert doc["error"] == ('Error response from daemon: could not select device driver '
                                '"cdi" with capabilities: []')
        assert doc["cause"]["id"] == "cdi-disabled"
    else:  # Docker 20.10's CLI takes the name for a path
        assert doc["cause"]["id"] == "device-missing-on-host"
    assert verify_containers(gpu_daemon) == []


# ----- compose ------------------------------------------------------------------------------------
def test_compose_path_with_devices_groups_and_gpus(gpu_daemon: Dockerd, tmp_path: Path) -> None:
    import yaml

    kfd = make_node(tmp_path / "kfd", gid=4242)
    render = make_node(tmp_path / "renderD128", gid=4243, minor=5)
    run = verify(gpu_daemon, "--json", "--compose", "--", f"--device={kfd}:/dev/kfd",
                 f"--device={render}:/dev/dri/renderD128", "--group-add=4242",
                 "--group-add=4243", "--gpus=all")
    assert run.returncode == 0, run.stdout
    doc = verify_doc(run)
    assert doc["method"] == "compose" and doc["verdict"] == "pass"
    compose = doc["compose"]
    assert Path(compose["command"][-1]).name in ("docker-compose", "compose")
    assert compose["version"]  # what `version --short` said, e.g. 1.29.2 for Debian's
    service = yaml.safe_load(compose["file"])["services"]["verify"]
    assert service["group_add"] == ["4242", "4243"]
    assert service["deploy"]["resources"]["reservations"]["devices"][0]["driver"] == "nvidia"
    assert [i["status"] for i in items(doc, "device")] == ["pass"] * 4
    assert [i["status"] for i in items(doc, "nvidia-smi")] == ["pass", "pass"]
    assert verify_containers(gpu_daemon) == []


def test_compose_without_the_toolkit_gives_the_field_guides_error(bare_daemon: Dockerd) -> None:
    run = verify(bare_daemon, "--json", "--compose", "--", "--gpus=all")
    assert run.returncode == 1
    doc = verify_doc(run)
    assert doc["error"].endswith(
        'could not select device driver "nvidia" with capabilities: [[gpu]]')
    assert doc["cause"]["id"] == "nvidia-driver-not-registered"
    assert doc["cause"]["fixes"] == ["nvidia.install_toolkit", "docker.reload"]
    assert doc["removed"] is True and verify_containers(bare_daemon) == []


# ----- images -------------------------------------------------------------------------------------
def test_never_pulls_unasked(dockerd_factory: DockerdFactory, gpu_daemon: Dockerd) -> None:
    empty = dockerd_factory()
    run = verify(empty, "--", "--gpus=all")
    assert run.returncode == 2
    assert "NOT RUN: no small image (busybox, alpine, debian, ubuntu...) is present" in run.stdout
    assert "Re-run with --pull (it pulls ubuntu:24.04)" in run.stdout
    doc = verify_doc(verify(empty, "--json", "--", "--device=/dev/null"))
    assert doc["verdict"] == "error" and doc["cause"]["id"] == "image-not-present"
    assert "busybox:latest" in doc["summary"] and doc["container"] is None
    assert empty.docker("image", "ls", "-q").stdout.strip() == ""  # nothing was pulled
    named = verify(gpu_daemon, "--json", "--image", "gpudoctor-test/nosuch:1", "--",
                   "--device=/dev/null")
    assert named.returncode == 2
    assert verify_doc(named)["summary"] == ("the image gpudoctor-test/nosuch:1 is not present "
                                            "on this daemon")
    # --pull really pulls (here from a registry address where nothing listens)
    pulled = verify(gpu_daemon, "--json", "--pull", "--image", "127.0.0.1:9/gpudoctor/none:1",
                    "--", "--device=/dev/null")
    assert pulled.returncode == 1
    failed = verify_doc(pulled)
    assert failed["verdict"] == "error" and failed["cause"]["id"] == "image-pull-failed"
    assert failed["commands"][-1][1:] == ["pull", "127.0.0.1:9/gpudoctor/none:1"]
    assert "127.0.0.1:9" in failed["error"]


def test_report_arguments_are_the_default(gpu_daemon: Dockerd) -> None:
    """Without `--`, verify tests the report's docker_run_args (none on a GPU-less host)."""
    facts = Facts(LiveHost(env={**os.environ, "DOCKER_HOST": gpu_daemon.host}), Options())
    report_args = list(facts.docker_run_args)
    run = verify(gpu_daemon, "--json")
    doc = verify_doc(run)
    assert doc["args_source"] == "report"
    if not report_args:
        assert run.returncode == 1
        assert doc["cause"]["id"] == "no-gpu-arguments" and doc["container"] is None
        assert "gpudoctor verify -- --gpus=all" in doc["cause"]["remedy"]
    else:
        assert doc["args"] == report_args


# ----- Ctrl-C -------------------------------------------------------------------------------------
@pytest.mark.parametrize(("signum", "code", "said"), [(signal.SIGINT, 130, "Ctrl-C"),
                                                      (signal.SIGTERM, 143, "SIGTERM")])
def test_interrupt_while_the_container_runs_leaves_nothing(gpu_daemon: Dockerd, tmp_path: Path,
                                                           signum: int, code: int,
                                                           said: str) -> None:
    """nvidia-smi that hangs (a GPU fallen off the bus) keeps verify waiting; then Ctrl-C."""
    hang = tmp_path / "nvidia-smi"
    hang.write_text("#!/bin/sh\nsleep 120\n")
    hang.chmod(0o755)
    env = {**os.environ, **env_for(gpu_daemon), "NO_COLOR": "1"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "gpudoctor", "verify", "--", "--gpus=all",
         f"--volume={hang}:/usr/bin/nvidia-smi:ro"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            running = gpu_daemon.docker("ps", "-q", "--filter", "label=io.gpudoctor.verify")
            if running.stdout.strip():
                break
            assert proc.poll() is None, proc.communicate()
            time.sleep(0.1)
        else:
            pytest.fail("the verify container never started")
        time.sleep(1.0)  # inside the probe now: nvidia-smi sleeps
        assert proc.poll() is None
        sent = time.monotonic()
        proc.send_signal(signum)
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == code, (out, err)
    assert time.monotonic() - sent < 30
    assert "Traceback" not in err
    assert err.startswith(f"gpudoctor: interrupted by {said}; the container gpudoctor-verify-")
    assert err.rstrip().endswith("was removed")
    assert verify_containers(gpu_daemon) == []


# ----- docker.smoke --------------------------------------------------------------------------
def test_smoke_check_is_opt_in(gpu_daemon: Dockerd) -> None:
    plain = run_gpudoctor("check", "--json", env=env_for(gpu_daemon))
    assert "docker.smoke" not in [c["id"] for c in validate_report(plain.json)["checks"]]
    run = run_gpudoctor("check", "--smoke", "--json", env=env_for(gpu_daemon))
    report = validate_report(run.json)
    smoke = check_of(report, "docker.smoke")
    assert smoke["area"] == "Container stack"
    if not report["docker_run_args"]:
        assert smoke["status"] == "skip"
        assert "no GPU is selected" in smoke["summary"]
    assert verify_containers(gpu_daemon) == []


def test_smoke_check_runs_the_report_arguments(gpu_daemon: Dockerd, tmp_path: Path) -> None:
    """docker.smoke through the real runner, with the report's arguments of an AMD host."""
    from gpudoctor.checks.docker_smoke import DockerSmoke
    from gpudoctor.plugin import Status

    kfd = make_node(tmp_path / "kfd", gid=4242)
    render = make_node(tmp_path / "renderD128", gid=4243, minor=5)

    def smoke(args: list[str], image: str | None = None):
        facts = Facts(LiveHost(env={**os.environ, "DOCKER_HOST": gpu_daemon.host}),
                      Options(smoke=True, image=image))
        facts.memo("docker_run_args", lambda: args)
        return run_checks([DockerSmoke], facts)[0].result

    good = smoke([f"--device={kfd}:/dev/kfd", f"--device={render}:/dev/dri/renderD128",
                  "--group-add=4242", "--group-add=4243"])
    assert good.status is Status.PASS, good.summary
    assert good.summary.startswith("a container with these arguments started and opened "
                                   "/dev/kfd, /dev/dri/renderD128 read-write as root and "
                                   "65534:65534")
    assert good.evidence and all(not e.startswith("[fail]") for e in good.evidence)
    bad = smoke([f"--device={kfd}:/dev/kfd", f"--device={render}:/dev/dri/renderD128",
                 "--group-add=4242"])
    assert bad.status is Status.FAIL
    assert bad.summary == ("65534:65534 in the container does not hold GID 4243, which owns "
                           "/dev/dri/renderD128")
    assert "--group-add=4243" in bad.remedy
    assert any("[fail] /dev/dri/renderD128 cannot be opened" in e for e in bad.evidence)
    # a check never pulls: without the image it says so, as a warning
    unpulled = smoke([f"--device={kfd}:/dev/kfd"], image="gpudoctor-test/nosuch:1")
    assert unpulled.status is Status.WARN
    assert unpulled.summary == "the image gpudoctor-test/nosuch:1 is not present on this daemon"
    assert "docker pull gpudoctor-test/nosuch:1" in unpulled.remedy
    assert verify_containers(gpu_daemon) == []
