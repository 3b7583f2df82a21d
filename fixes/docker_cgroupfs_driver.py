"""docker.cgroupfs_driver: `native.cgroupdriver=cgroupfs` in the daemon.json dockerd reads.

With the cgroupfs driver systemd never rewrites a container's device rules, so `systemctl
daemon-reload` cannot take GPUs injected by the toolkit's legacy hook away from running
containers (toolkit#48; the workaround projects such as dstack ship). The entry is spliced into
the person's own daemon.json with the same editor as docker.configure_nvidia_runtime (their
keys, order and indentation stay), written atomically after a backup. dockerd reads the cgroup
driver only at start: docker.reload then restarts it (running containers stop unless
live-restore is on), and puts the file back if the daemon does not come back healthy.
"""

from __future__ import annotations

import json

from gpudoctor import TYPE_CHECKING, fixer
from gpudoctor.facts import Facts
from gpudoctor.fixes.docker_configure_nvidia_runtime import merge_into
from gpudoctor.plugin import Fix, FixContext, Plan

if TYPE_CHECKING:
    from typing import Any

OPTION = "native.cgroupdriver"
WANTED = f"{OPTION}=cgroupfs"


def exec_opts_with_cgroupfs(current: Any) -> list[str]:
    """`exec-opts` with any cgroup driver entry replaced by cgroupfs, other options kept."""
    opts = [str(o) for o in current] if isinstance(current, list) else []
    kept = [o for o in opts if not o.replace(" ", "").startswith(f"{OPTION}=")]
    return [*kept, WANTED]


class DockerCgroupfsDriver(Fix):
    id = "docker.cgroupfs_driver"
    title = "Make Docker use the cgroupfs cgroup driver (GPUs survive `systemctl daemon-reload`)"

    def plan(self, facts: Facts, ctx: FixContext) -> Plan:
        plan = Plan(self.id, self.title)
        daemon = facts.docker
        path = daemon.config_path
        plan.data["path"] = path
        if daemon.mode in ("desktop", "remote"):
            plan.blocked = f"the daemon ({daemon.mode}) does not run on this host's systemd"
            return plan
        if daemon.mode == "rootless":
            plan.blocked = ("rootless Docker needs the systemd cgroup driver on cgroup v2 "
                            "(systemd delegates the user's cgroups); give GPUs through CDI "
                            "instead (`--device=nvidia.com/gpu=all`)")
            return plan
        flagged = [v for v in daemon.flag_values("--exec-opt") if OPTION in v]
        if flagged:
            plan.blocked = (f"dockerd is started with --exec-opt {flagged[-1]}; change it in "
                            "dockerd's unit (a daemon.json `exec-opts` beside the flag makes "
                            "dockerd refuse to start)")
            return plan
        cfg = daemon.config
        refusal = cfg.edit_refusal(path)
        if refusal:
            plan.blocked = refusal
            return plan
        data = cfg.data or {}
        current = data.get("exec-opts")
        if current is not None and not isinstance(current, list):
            plan.blocked = f"`exec-opts` in {path} is not a list; fix it first"
            return plan
        wanted = exec_opts_with_cgroupfs(current)
        running = daemon.info.get("CgroupDriver") if daemon.reachable else None
        if current == wanted or (isinstance(current, list) and WANTED in current
                                 and len(wanted) == len(current)):
            plan.noop = True
            plan.reason = (f"{path} already sets {WANTED}"
                                   + (f" (the daemon reports {running})" if running else ""))
            return plan
        text = cfg.text if cfg.state == "ok" else None
        new_text = merge_into(text, [(["exec-opts"], wanted)])
        old = cfg.text.encode() if cfg.text is not None else None
        plan.steps.append(fixer.write_step(
            path, old, new_text.encode(),
            f"set `\"exec-opts\": {json.dumps(wanted)}` in {path} (other keys untouched), "
            "atomically after a backup"))
        plan.data.update({"old_sha": fixer.sha256(old), "changed_keys": ["exec-opts"],
                          "suggests": ["docker.reload"]})
        plan.notes.append("dockerd reads the cgroup driver only when it starts: restart Docker "
                          "(docker.reload does, and puts the file back if the daemon does not "
                          "come back); running containers stop unless live-restore is on")
        plan.notes.append("containers that already lost their GPUs must be recreated "
                          "(`docker rm -f NAME`, run again)")
        plan.interrupts_containers = True
        return plan

    def apply(self, plan: Plan, facts: Facts, ctx: FixContext, log: Any) -> None:
        path = plan.data["path"]
        step = plan.steps[0]
        assert step.new_content is not None
        fixer.write_planned(ctx, self.id, path, step.new_content, plan.data["old_sha"], log)
