"""containerd.restart: make containerd load its configuration (it reads it only at start).

Before touching the daemon, containerd itself is asked to load the files
(`containerd --config FILE config dump`); after `systemctl restart containerd` it must be
active again and answer on its socket, with the nvidia runtime in its merged configuration.
If not, the files this run wrote are put back and containerd is restarted once more, as
docker.reload does. On a Kubernetes node the restart stops no running pod (each container's
shim keeps it running), but for those seconds the kubelet cannot start new pods.
"""

from __future__ import annotations

from gpudoctor import TYPE_CHECKING, fixer
from gpudoctor.facts import Facts
from gpudoctor.facts.containerd import socket_of
from gpudoctor.fixes._toml_runtime import restart_and_verify, roll_back, run_quiet, systemd_unit_of
from gpudoctor.fixes.containerd_configure_nvidia_runtime import dropin_paths, dump, verify_dump
from gpudoctor.plugin import Fix, FixContext, FixFailed, Plan, Step, StepKind

if TYPE_CHECKING:
    from typing import Any

KUBERNETES_WARNING = (
    "this is a Kubernetes node: restarting containerd stops no running pod or container (their "
    "shims keep them running), but while it restarts (a few seconds) the kubelet cannot start "
    "new pods and may briefly report the node's runtime as not ready")


class RestartContainerd(Fix):
    id = "containerd.restart"
    title = "Restart containerd so it loads its configuration"
    after = ("nvidia.install_toolkit", "containerd.configure_nvidia_runtime")

    def plan(self, facts: Facts, ctx: FixContext) -> Plan:
        plan = Plan(self.id, self.title, interrupts_containers=False)
        c = facts.containerd
        if not c.installed:
            plan.blocked = "containerd is not installed"
            return plan
        proc = c.process
        if proc is None:
            plan.blocked = ("containerd is not running; start it: `sudo systemctl start "
                            "containerd` (it then reads its configuration)")
            return plan
        if facts.host.live and not systemd_unit_of(facts.host, proc.pid, "containerd"):
            plan.blocked = (f"containerd (pid {proc.pid}) is not run by systemd's "
                            "containerd.service, so gpudoctor cannot restart it safely; "
                            "restart it the way it was started")
            return plan
        configure = ctx.earlier("containerd.configure_nvidia_runtime")
        if not fixer.is_active(configure) and "nvidia" in c.runtimes and not _changed_since(
                facts, c):
            plan.noop = True
            plan.reason = "containerd started after its configuration last changed"
            return plan
        config = ctx.get("config") or c.config_path
        plan.data.update({"config": config, "plugin": c.cri_plugin,
                          "socket": socket_of(c), "files": [config, dropin_paths(config)[0]]})
        if facts.kubelet.present:
            plan.notes.append(KUBERNETES_WARNING)
        plan.steps += [
            Step(StepKind.NOTE, f"ask containerd to load {config} and its imports (`containerd "
                 f"--config {config} config dump`) before touching the running daemon"),
            Step(StepKind.COMMAND, "restart containerd",
                 argv=["systemctl", "restart", "containerd"]),
            Step(StepKind.NOTE, "verify that containerd is active and answers, with the nvidia "
                 "runtime loaded; if not, put back the files this run changed and restart "
                 "again")]
        return plan

    def apply(self, plan: Plan, facts: Facts, ctx: FixContext, log: Any) -> None:
        data = plan.data
        problem = prevalidate(data["config"])
        if problem is not None:
            restored = roll_back(data["files"], ctx, log)
            raise FixFailed(f"containerd cannot load {data['config']}: {problem} (containerd "
                            "was not touched" + (f"; restored {', '.join(restored)})"
                                                 if restored else ")"))

        def healthy() -> str | None:
            ok, line = run_quiet(["systemctl", "is-active", "containerd"])
            if not ok:
                return f"systemctl says {line or 'inactive'}"
            ok, line = run_quiet(["ctr", "--address", data["socket"], "version"], 10.0)
            if not ok:
                return f"it does not answer on {data['socket']}: {line}"
            return verify_dump(data["config"], data["plugin"])

        restart_and_verify(plan, ctx, log, unit="containerd", healthy=healthy,
                           paths=data["files"])


def prevalidate(config: str) -> str | None:
    """containerd's own verdict on the files (None: it loads them, or it cannot be run)."""
    parsed, error = dump(config)
    if parsed is None and error != "missing":
        return error
    return None


def _changed_since(facts: Facts, c: Any) -> bool:
    proc = c.process
    if proc is None or proc.create_time is None:
        return True
    for f in [c.main, *c.imports]:
        if f is None or not f.ok:
            continue
        st = facts.host.stat(f.path)
        if st is not None and st.mtime > proc.create_time:
            return True
    return False
