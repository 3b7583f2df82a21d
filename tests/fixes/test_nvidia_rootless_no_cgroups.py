"""nvidia.rootless_no_cgroups: rootless Docker's toolkit hook needs `no-cgroups = true` in the
config.toml dockerd's XDG_CONFIG_HOME points at; planned with the runtime's own fixes
(ahead of them), written atomically keeping every other line, refused for a root daemon."""

from __future__ import annotations

import json
import os
from pathlib import Path

from gpudoctor import fixer
from gpudoctor.facts import Facts, Options
from gpudoctor.facts.docker import DockerDaemon, read_daemon_config
from gpudoctor.facts.docker.names import DaemonMode
from gpudoctor.host import open_host
from gpudoctor.host.base import ProcessInfo
from gpudoctor.host.live import LiveHost
from gpudoctor.plugin import FixContext
from gpudoctor.report import Doctor
from tests.support import container_roots


def test_rootless_docker_gets_the_no_cgroups_step(tmp_path):
    root = container_roots.rootless_docker(tmp_path / "root")
    (root / "home/alice/.config/docker/daemon.json").write_text("{}\n")
    host_json = root / ".gpudoctor/host.json"
    doc = json.loads(host_json.read_text())
    doc["docker"]["info"]["Runtimes"].pop("nvidia", None)
    host_json.write_text(json.dumps(doc))
    doctor = Doctor(open_host(str(root)), Options())
    plans = fixer.plan_fixes(doctor)
    ids = [p.fix_id for p in plans]
    assert ids.index("nvidia.rootless_no_cgroups") < ids.index("docker.configure_nvidia_runtime")
    assert ids.index("docker.configure_nvidia_runtime") < ids.index("docker.reload")
    text = fixer.render_plan(plans)
    assert "+++ /home/alice/.config/docker/daemon.json" in text
    assert "+no-cgroups = true" in text and "-#no-cgroups" not in text  # nothing else changes
    assert "rootless Docker: the toolkit's hook must also run with `no-cgroups = true`" in text
    assert "host-wide" in text


def _rootless_facts(tmp_path: Path) -> Facts:
    """Live facts whose Docker daemon is a rootless one with its own XDG_CONFIG_HOME."""
    facts = Facts(LiveHost(), Options())
    proc = ProcessInfo(pid=os.getpid(), ppid=1, uid=1000, name="dockerd", exe="/usr/bin/dockerd",
                       cmdline=("dockerd",), env_path=os.environ["PATH"], create_time=None,
                       env={"XDG_CONFIG_HOME": str(tmp_path / "xdg")})
    daemon = DockerDaemon(endpoint="unix:///run/user/1000/docker.sock", endpoint_source="test",
                          process=proc, mode=DaemonMode.ROOTLESS,
                          config_path=str(tmp_path / "daemon.json"))
    daemon.config = read_daemon_config(facts.host, daemon.config_path)
    facts._cache["docker"] = daemon
    return facts


def test_rootless_no_cgroups_sets_one_key_and_keeps_every_line_atomically(tmp_path):
    from gpudoctor.fixes.nvidia_rootless_no_cgroups import RootlessNoCgroups

    config = tmp_path / "xdg/nvidia-container-runtime/config.toml"
    config.parent.mkdir(parents=True)
    original = container_roots.DEFAULT_CONFIG_TOML
    config.write_text(original)
    facts = _rootless_facts(tmp_path)
    fix = RootlessNoCgroups()
    plan = fix.plan(facts, FixContext())
    assert not plan.blocked and plan.steps[0].path == str(config)
    assert "dockerd's XDG_CONFIG_HOME" in plan.steps[0].description
    log: list[str] = []
    ctx = FixContext()
    fix.apply(plan, facts, ctx, log.append)
    new = config.read_text()
    # tomlkit adds the one key to [nvidia-container-cli]; every line of the file stays
    assert [ln for ln in new.splitlines() if ln != "no-cgroups = true"] == original.splitlines()
    table = new.split("[nvidia-container-cli]")[1].split("\n[")[0]
    assert "\nno-cgroups = true\n" in table
    [backup] = config.parent.glob("config.toml.gpudoctor-*.bak")
    assert backup.read_text() == original
    assert ctx.written[0].path == str(config) and ctx.written[0].fix == fix.id
    again = fix.plan(_rootless_facts(tmp_path), FixContext())
    assert again.noop and "already sets no-cgroups = true" in again.reason

    config.write_text("[nvidia-container-cli\nno-cgroups = false\n")
    broken = fix.plan(_rootless_facts(tmp_path), FixContext())
    assert "is not valid TOML" in broken.blocked and "line 1" in broken.blocked


def test_no_cgroups_is_refused_for_a_root_daemon(tmp_path):
    from gpudoctor.fixes.nvidia_rootless_no_cgroups import RootlessNoCgroups

    facts = _rootless_facts(tmp_path)
    facts.docker.mode = DaemonMode.SYSTEM
    plan = RootlessNoCgroups().plan(facts, FixContext())
    assert "not rootless" in plan.blocked and "isolation" in plan.blocked
