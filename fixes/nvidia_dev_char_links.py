"""nvidia.dev_char_links: /dev/char links for the NVIDIA device files, now and after a reboot.

With the systemd cgroup driver runc tells systemd about a container's devices through their
/dev/char/MAJ:MIN links; the NVIDIA driver's nodes (made by nvidia-modprobe, not udev) have
none, so a `systemctl daemon-reload` drops the GPUs from running containers (toolkit#48). NVIDIA's
workaround, done here: `nvidia-ctk system create-dev-char-symlinks --create-all` now, and a udev
rule that runs it again when the nvidia driver binds after a reboot. Idempotent: links that
exist and a rule with the same content make it a no-op. Containers that already lost their
GPUs must be recreated; the plan says so.
"""

from __future__ import annotations

from gpudoctor import TYPE_CHECKING, fixer
from gpudoctor.errors import HostError
from gpudoctor.facts import Facts
from gpudoctor.facts.nvidia_layer import dev_char_links
from gpudoctor.plugin import Fix, FixContext, FixFailed, Plan, Step, StepKind

if TYPE_CHECKING:
    from typing import Any

RULE_PATH = "/etc/udev/rules.d/71-nvidia-dev-char.rules"
CTK_TIMEOUT = 30.0


def rule_text(ctk: str) -> str:
    """The udev rule NVIDIA's troubleshooting guide gives, with this host's nvidia-ctk path."""
    return ("# Written by gpudoctor (nvidia.dev_char_links): create /dev/char links for the\n"
            "# NVIDIA device files when the driver binds, so containers keep their GPUs across\n"
            "# `systemctl daemon-reload` with the systemd cgroup driver (toolkit#48).\n"
            'ACTION=="add", DEVPATH=="/bus/pci/drivers/nvidia", '
            f'RUN+="{ctk} system create-dev-char-symlinks --create-all"\n')


def find_ctk(facts: Facts) -> str | None:
    return facts.toolkit.binaries.get("nvidia-ctk") or facts.host.which("nvidia-ctk")


class NvidiaDevCharLinks(Fix):
    id = "nvidia.dev_char_links"
    title = "Create /dev/char links for the NVIDIA devices, and a udev rule that keeps them"
    after = ("nvidia.install_toolkit",)

    def plan(self, facts: Facts, ctx: FixContext) -> Plan:
        plan = Plan(self.id, self.title)
        ctk = find_ctk(facts)
        if ctk is None:
            plan.blocked = ("nvidia-ctk (package nvidia-container-toolkit-base) is not "
                            "installed; install the toolkit first (nvidia.install_toolkit)")
            return plan
        missing = [link for link in dev_char_links(facts) if not link.present]
        argv = [ctk, "system", "create-dev-char-symlinks", "--create-all"]
        if missing:
            plan.steps.append(Step(
                StepKind.COMMAND, "create the missing links "
                + ", ".join(f"{lk.link} -> {lk.path}" for lk in missing[:6])
                + (f" and {len(missing) - 6} more" if len(missing) > 6 else ""), argv=argv))
        plan.data.update({"argv": argv, "missing": [lk.link for lk in missing]})
        try:
            current = facts.host.read_optional(RULE_PATH)
        except HostError as exc:
            plan.blocked = f"cannot read {RULE_PATH}: {exc.reason}"
            return plan
        wanted = rule_text(ctk)
        if current != wanted:
            old = current.encode() if current is not None else None
            plan.steps.append(fixer.write_step(
                RULE_PATH, old, wanted.encode(),
                f"write {RULE_PATH} so udev runs the same command whenever the nvidia driver "
                "binds (after every boot), atomically" + (" after a backup" if old else "")))
            plan.data["old_sha"] = fixer.sha256(old)
        if not plan.steps:
            plan.noop = True
            plan.reason = (f"every NVIDIA device file has its /dev/char link and "
                           f"{RULE_PATH} is in place")
            return plan
        plan.notes.append("containers that already show `Failed to initialize NVML: Unknown "
                          "Error` keep it: recreate them (`docker rm -f NAME`, run again)")
        return plan

    def apply(self, plan: Plan, facts: Facts, ctx: FixContext, log: Any) -> None:
        for step in plan.steps:
            if step.kind == "command":
                fixer.run_command(step.argv, log, timeout=CTK_TIMEOUT)
            elif step.kind == "write":
                assert step.new_content is not None
                fixer.write_planned(ctx, self.id, step.path, step.new_content,
                                    plan.data.get("old_sha"), log, mode=0o644)
        if plan.data.get("missing") and facts.host.live:
            import os

            still = [link for link in plan.data["missing"] if not os.path.lexists(link)]
            if still:
                raise FixFailed(f"nvidia-ctk ran but these links are still missing: "
                                f"{', '.join(still)}")
