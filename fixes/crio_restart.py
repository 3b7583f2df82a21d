"""crio.restart: restart CRI-O so it loads its drop-ins, after `crio config` (CRI-O's own
parser) accepted them; verified active afterwards, files put back and CRI-O restarted again if
not."""

from __future__ import annotations

from gpudoctor import TYPE_CHECKING, fixer
from gpudoctor.facts import Facts
from gpudoctor.fixes._toml_runtime import restart_and_verify, roll_back, run_quiet, systemd_unit_of
from gpudoctor.fixes.containerd_restart import KUBERNETES_WARNING
from gpudoctor.plugin import Fix, FixContext, FixFailed, Plan, Step, StepKind

if TYPE_CHECKING:
    from typing import Any


class RestartCrio(Fix):
    id = "crio.restart"
    title = "Restart CRI-O so it loads its configuration"
    after = ("nvidia.install_toolkit", "crio.configure_nvidia_runtime")

    def plan(self, facts: Facts, ctx: FixContext) -> Plan:
        plan = Plan(self.id, self.title)
        c = facts.crio
        if c.process is None:
            plan.blocked = "CRI-O is not running; start it: `sudo systemctl start crio`"
            return plan
        if facts.host.live and not systemd_unit_of(facts.host, c.process.pid, "crio"):
            plan.blocked = (f"crio (pid {c.process.pid}) is not run by systemd's crio.service; "
                            "restart it the way it was started")
            return plan
        configure = ctx.earlier("crio.configure_nvidia_runtime")
        if not fixer.is_active(configure) and "nvidia" in c.runtimes:
            plan.noop = True
            plan.reason = "nothing was changed for CRI-O in this run"
            return plan
        plan.data.update({"config": c.config_path, "dir": c.drop_in_dir,
                          "files": [f"{c.drop_in_dir}/99-nvidia.toml"]})
        if facts.kubelet.present:
            plan.notes.append(KUBERNETES_WARNING.replace("containerd", "CRI-O"))
        plan.steps += [
            Step(StepKind.NOTE, "ask CRI-O to parse its configuration (`crio config`) first"),
            Step(StepKind.COMMAND, "restart CRI-O", argv=["systemctl", "restart", "crio"]),
            Step(StepKind.NOTE, "verify CRI-O is active again; if not, put back the drop-in and "
                 "restart again")]
        return plan

    def apply(self, plan: Plan, facts: Facts, ctx: FixContext, log: Any) -> None:
        data = plan.data
        ok, line = run_quiet(["crio", "--config", data["config"], "--config-dir", data["dir"],
                              "config"], 30.0)
        if not ok:
            restored = roll_back(data["files"], ctx, log)
            raise FixFailed(f"CRI-O rejects its configuration: {line} (CRI-O was not touched"
                            + (f"; restored {', '.join(restored)})" if restored else ")"))

        def healthy() -> str | None:
            active, state = run_quiet(["systemctl", "is-active", "crio"])
            return None if active else f"systemctl says {state or 'inactive'}"

        restart_and_verify(plan, ctx, log, unit="crio", healthy=healthy,
                           paths=data["files"])
