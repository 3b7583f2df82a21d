"""Real engines on this machine: Podman 4.3 resolving a CDI spec from /etc/cdi into a busybox
container (and gpudoctor's podman.cdi agreeing), `gpudoctor verify --engine podman`, and a
private containerd 1.6 whose `config dump` shows exactly what gpudoctor wrote with its
drop-in, and what a runtime-only drop-in does to runc."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import stat
import subprocess
import tempfile
import time
from pathlib import Path

import pytest
import tomllib

from gpudoctor.facts import Facts, Options
from gpudoctor.fixes.containerd_configure_nvidia_runtime import ConfigureContainerdNvidiaRuntime
from gpudoctor.fixes.containerd_restart import RestartContainerd, prevalidate
from gpudoctor.plugin import FixContext
from gpudoctor.registry import load
from gpudoctor.runner import run_checks
from tests.support.cli import run_gpudoctor
from tests.support.container_roots import LiveDockerOverRoot, nvidia_hardware
from tests.support.engines_live import (
    OnlyProcesses,
    PrivateContainerd,
    cdi_spec,
    import_busybox,
    podman,
    podman_env,
)
from tests.support.standins import standin_dir
from tests.support.verify_support import make_node, verify_doc

CRI = "io.containerd.grpc.v1.cri"


@pytest.fixture(scope="module")
def pod(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, str], str, Path]:
    base = tmp_path_factory.mktemp("podman")
    run_dir = Path(tempfile.mkdtemp(prefix="gd-podman-", dir="/tmp"))  # short: see podman_env
    env = podman_env(base, run_dir)
    image = import_busybox(env, base)
    yield env, image, base
    podman(env, "rm", "-a", "-f")
    podman(env, "system", "reset", "--force")
    shutil.rmtree(run_dir, ignore_errors=True)


def spec_text(node: Path, marker: str, version: str = "0.5.0") -> str:
    return (f"cdiVersion: {version}\nkind: nvidia.com/gpu\ncontainerEdits:\n  env:\n"
            f"  - NVIDIA_VISIBLE_DEVICES=void\n  - GPUDOCTOR_CDI_TEST={marker}\n"
            "devices:\n- name: all\n  containerEdits:\n    deviceNodes:\n"
            f"    - path: /dev/nvidia0\n      hostPath: {node}\n")


# ----- Podman ------------------------------------------------------------------------------------
@pytest.mark.machine
def test_podman_resolves_the_cdi_spec_and_gpudoctor_agrees(pod, tmp_path: Path) -> None:
    env, image, _ = pod
    node = tmp_path / "nvidia0"
    os.mknod(node, 0o666 | stat.S_IFCHR, os.makedev(195, 0))
    with cdi_spec(spec_text(node, "i15")) as path:
        run = podman(env, "run", "--rm", "--device", "nvidia.com/gpu=all", image, "sh", "-c",
                     "stat -c '%F %t:%T' /dev/nvidia0; env")
        assert run.returncode == 0, run.stderr
        assert "character special file c3:0" in run.stdout
        assert "GPUDOCTOR_CDI_TEST=i15" in run.stdout
        # gpudoctor on this machine, with the H100 server's hardware read from a root
        host = LiveDockerOverRoot(nvidia_hardware(tmp_path / "hw"),
                                  env={k: env[k] for k in ("PATH", "CONTAINERS_CONF",
                                                           "CONTAINERS_STORAGE_CONF")})
        facts = Facts(host, Options())
        assert facts.podman.version == "4.3.1"
        assert facts.podman.mode == "rootful"
        assert str(path) in [s.path for s in facts.podman.specs]
        reg = load(third_party=False)
        [outcome] = run_checks([reg.checks["podman.cdi"]], facts)
        assert outcome.result.status.value == "pass", outcome.result
        assert facts.run_args["podman"] == ["--device=nvidia.com/gpu=all"]
    assert not path.exists()


def test_verify_engine_podman_runs_the_proof_container(pod, tmp_path: Path) -> None:
    env, image, _ = pod
    node = make_node(tmp_path / "dev/renderD128", gid=4242)
    run = run_gpudoctor("verify", "--engine", "podman", "--json", "--image", image, "--",
                        f"--device={node}", "--group-add=4242",
                        env={k: env[k] for k in ("CONTAINERS_CONF", "CONTAINERS_STORAGE_CONF")})
    doc = verify_doc(run)
    assert doc["engine"] == "podman", doc
    assert doc["verdict"] == "pass", json.dumps(doc, indent=1)[-3000:]
    assert doc["endpoint"] == "podman (rootful)"
    assert all(cmd[0].endswith("podman") for cmd in doc["commands"])
    assert doc["removed"] is True
    # removed at once: `podman rm -f` alone waits out the 10 s stop timeout for the probe's
    # PID 1, which ignores SIGTERM
    assert any(cmd[1:5] == ["rm", "-f", "--time", "0"] for cmd in doc["commands"]), \
        doc["commands"]
    left = podman(env, "ps", "-a", "-q", "--filter", "label=io.gpudoctor.verify")
    assert left.stdout.strip() == ""


def test_verify_engine_podman_with_compose_is_a_command_line_error() -> None:
    run = run_gpudoctor("verify", "--engine", "podman", "--compose", "--", "--gpus=all")
    assert run.returncode == 2
    assert "--compose drives Docker Compose" in run.stderr


# ----- containerd ---------------------------------------------------------------------------------
CONFIG = """# gpudoctor test: a private containerd (keep this comment)
version = 2
root = "{base}/root"
state = "{base}/state"

[grpc]
  address = "{base}/run/containerd.sock"

[plugins]
  # the CRI plugin, as Debian's config has it
  [plugins."io.containerd.grpc.v1.cri"]
    [plugins."io.containerd.grpc.v1.cri".cni]
      bin_dir = "/usr/lib/cni"
      conf_dir = "{base}/cni"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        SystemdCgroup = true
"""


@pytest.fixture
def ctd(tmp_path: Path):
    daemon = PrivateContainerd(tmp_path / "ctd", CONFIG)
    daemon.start()
    yield daemon
    daemon.stop()


def facts_for(daemon: PrivateContainerd, with_ctk: bool = True) -> Facts:
    path = f"{standin_dir()}:{os.environ['PATH']}" if with_ctk else os.environ["PATH"]
    assert daemon.proc is not None
    return Facts(OnlyProcesses({daemon.proc.pid}, env={"PATH": path}), Options())


def runtimes_of(dump: str) -> dict:
    return tomllib.loads(dump)["plugins"][CRI]["containerd"]["runtimes"]


def test_gpudoctor_writes_what_containerd_loads(ctd: PrivateContainerd) -> None:
    facts = facts_for(ctd)
    c = facts.containerd
    assert c.config_path == str(ctd.config)
    assert c.config_source.startswith("--config of pid")
    assert c.version == "1.6.20"
    assert "nvidia" not in c.runtimes
    fix = ConfigureContainerdNvidiaRuntime()
    options = FixContext()
    plan = fix.plan(facts, options)
    assert not plan.blocked, plan.blocked
    assert plan.steps[0].kind == "command"
    assert "--runtime=containerd" in plan.steps[0].argv and "--dry-run" in plan.steps[0].argv
    log: list[str] = []
    fix.apply(plan, facts, options, log.append)
    assert any("verified: `containerd config dump` shows the nvidia runtime" in ln for ln in log)
    dropin = ctd.config.parent / "conf.d/99-nvidia.toml"
    main = ctd.config.read_text()
    assert "# gpudoctor test: a private containerd (keep this comment)" in main
    assert "# the CRI plugin, as Debian's config has it" in main
    assert f'imports = ["{ctd.config.parent}/conf.d/*.toml"]' in main
    backups = [p for p in ctd.config.parent.iterdir() if p.name.startswith("config.toml.")]
    assert backups, list(ctd.config.parent.iterdir())
    runtimes = runtimes_of(ctd.dump())
    assert runtimes["nvidia"]["options"]["BinaryName"] == "/usr/bin/nvidia-container-runtime"
    assert runtimes["nvidia"]["options"]["SystemdCgroup"] is True
    assert runtimes["runc"]["options"]["SystemdCgroup"] is True  # runc survives the import
    cni = tomllib.loads(ctd.dump())["plugins"][CRI]["cni"]
    assert cni["conf_dir"].endswith("/cni")  # so does the rest of the CRI section
    assert dropin.exists()
    # gpudoctor's own reading of the files agrees with containerd's
    again = facts_for(ctd).containerd
    assert {"nvidia", "runc"} <= set(again.runtimes)
    assert again.dropin_shadow() == []
    # a second plan has nothing left to do
    assert fix.plan(facts_for(ctd), {}).noop
    # the daemon starts with it
    ctd.stop()
    ctd.start()
    assert ctd.answers()


def test_a_runtime_only_dropin_really_drops_runc_and_gpudoctor_says_so(
        ctd: PrivateContainerd) -> None:
    conf_d = ctd.config.parent / "conf.d"
    conf_d.mkdir()
    (conf_d / "99-nvidia.toml").write_text(
        f'version = 2\n[plugins."{CRI}".containerd.runtimes.nvidia]\n'
        'runtime_type = "io.containerd.runc.v2"\n'
        f'[plugins."{CRI}".containerd.runtimes.nvidia.options]\n'
        'BinaryName = "/usr/bin/nvidia-container-runtime"\n')
    ctd.config.write_text(ctd.config.read_text().replace(
        "version = 2", f'version = 2\nimports = ["{conf_d}/*.toml"]'))
    runtimes = runtimes_of(ctd.dump())
    assert "runc" not in runtimes and "nvidia" in runtimes  # containerd's own merge
    cni = tomllib.loads(ctd.dump())["plugins"][CRI]["cni"]
    assert cni["conf_dir"] != f"{ctd.base}/cni"  # the main file's CNI folder is gone as well
    c = facts_for(ctd).containerd
    assert set(c.runtimes) == set(runtimes)
    assert c.dropin_shadow() == ["runc"]
    assert c.dropin_lost_settings() == ["cni.bin_dir", "cni.conf_dir"]
    # gpudoctor's fix rewrites its drop-in with the whole section: runc comes back
    facts = facts_for(ctd)
    fix = ConfigureContainerdNvidiaRuntime()
    options = FixContext()
    plan = fix.plan(facts, options)
    assert not plan.blocked and not plan.noop
    fix.apply(plan, facts, options, lambda line: None)
    assert {"runc", "nvidia"} <= set(runtimes_of(ctd.dump()))


def test_restart_refuses_a_hand_started_containerd_and_prevalidates(
        ctd: PrivateContainerd) -> None:
    plan = RestartContainerd().plan(facts_for(ctd), {})
    assert "not run by systemd's containerd.service" in plan.blocked
    conf_d = ctd.config.parent / "conf.d"
    conf_d.mkdir()
    (conf_d / "50-broken.toml").write_text("version = 2\n[plugins\n")
    ctd.config.write_text(ctd.config.read_text().replace(
        "version = 2", f'version = 2\nimports = ["{conf_d}/*.toml"]'))
    problem = prevalidate(str(ctd.config))
    assert problem is not None
    assert problem.startswith("containerd: failed to load TOML:")
    assert "50-broken.toml: (2, 2)" in problem
    facts = facts_for(ctd)
    assert facts.containerd.broken_files[0].path.endswith("50-broken.toml")
    blocked = ConfigureContainerdNvidiaRuntime().plan(facts, FixContext()).blocked
    assert "50-broken.toml is not valid TOML" in blocked and "never rewrites" in blocked


def test_restart_puts_the_files_back_when_containerd_does_not_come_back(tmp_path: Path) -> None:
    """The verify-and-rollback of containerd.restart, on a real containerd: a written config
    that `config dump` accepts but the daemon cannot start with (its state folder cannot be
    made) is put back, containerd is restarted again and runs its previous configuration."""
    from gpudoctor import fixer
    from gpudoctor.fixes._toml_runtime import restart_and_verify, write_planned
    from gpudoctor.plugin import FixFailed, Plan

    daemon = PrivateContainerd(tmp_path / "ctd", CONFIG)
    pidfile = tmp_path / "containerd.pid"
    restart = tmp_path / "restart-containerd"
    # what `systemctl restart containerd` does to the service, for this hand-started daemon
    restart.write_text(
        "#!/bin/sh\n"
        f"if [ -s {pidfile} ]; then\n"
        f'  pid=$(cat {pidfile}); kill "$pid"\n'
        '  while kill -0 "$pid" 2>/dev/null; do sleep 0.1; done\n'
        "fi\n"
        f"setsid containerd --config {daemon.config} >>{tmp_path}/containerd.log 2>&1 "
        "</dev/null &\n"
        f"echo $! > {pidfile}\n")
    restart.chmod(0o755)
    subprocess.run([str(restart)], check=True, timeout=30)  # not our child: no zombie to wait
    deadline = time.monotonic() + 30
    while not daemon.answers() and time.monotonic() < deadline:
        time.sleep(0.2)
    try:
        old = daemon.config.read_bytes()
        bad = old.replace(f'state = "{daemon.base}/state"'.encode(),
                          b'state = "/proc/version/state"')
        assert bad != old
        plan = Plan("containerd.configure_nvidia_runtime", "test",
                    data={"old_sha": {str(daemon.config): fixer.sha256(old)}})
        plan.steps.append(fixer.write_step(str(daemon.config), old, bad, "rewrite"))
        options = FixContext()
        log: list[str] = []
        write_planned(plan, "containerd.configure_nvidia_runtime", options, log.append)
        assert prevalidate(str(daemon.config)) is None  # containerd parses it...

        def healthy() -> str | None:
            return None if daemon.answers() else "it does not answer on its socket"

        with pytest.raises(FixFailed) as failed:
            restart_and_verify(plan, options, log.append, unit="containerd", healthy=healthy,
                               paths=[str(daemon.config)], limit=8.0, argv=[str(restart)])
        message = str(failed.value)
        assert "containerd rejected the new configuration: it does not answer" in message
        assert "it runs its previous configuration" in message
        assert daemon.config.read_bytes() == old
        assert daemon.answers()
        assert any("restored" in line for line in log)
    finally:
        if pidfile.exists():
            with contextlib.suppress(ProcessLookupError, ValueError):
                os.kill(int(pidfile.read_text()), 15)


def test_verify_defaults_to_the_engine_in_use(pod, tmp_path: Path) -> None:
    """No Docker daemon answers, none was named and no dockerd runs (the host sees none of
    the other tests' daemons): Podman is the engine in use, and verify drives it."""
    from gpudoctor.verify import VerifyRequest, run_verification

    env, image, _ = pod
    node = make_node(tmp_path / "dev/renderD129", gid=4243)
    host_env = {k: env[k] for k in ("PATH", "CONTAINERS_CONF", "CONTAINERS_STORAGE_CONF")}
    host_env["DOCKER_CONFIG"] = str(tmp_path / "no-docker-config")
    facts = Facts(OnlyProcesses(set(), env=host_env), Options())
    assert [e.name for e in facts.engines if e.in_use] == ["podman"]
    saved = {k: os.environ.get(k) for k in ("CONTAINERS_CONF", "CONTAINERS_STORAGE_CONF")}
    os.environ.update({k: env[k] for k in saved})  # the podman CLI verify starts reads these
    try:
        result = run_verification(facts, VerifyRequest(args=[f"--device={node}"], image=image))
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
    doc = result.to_json()
    assert doc["engine"] == "podman"
    # without --group-add the non-root container user really cannot open the node
    assert (doc["verdict"], doc["cause"]["id"]) == ("fail", "group-not-held"), doc["summary"]
    assert "does not hold GID 4243" in doc["summary"]


def test_verify_engine_podman_without_podman_says_so(tmp_path: Path) -> None:
    run = run_gpudoctor("verify", "--engine", "podman", "--json", "--", "--gpus=all",
                        env={"PATH": str(tmp_path)})
    doc = verify_doc(run)
    assert run.returncode == 1
    assert doc["cause"]["id"] == "podman-missing"
    assert doc["summary"] == "the podman command is not installed"
