"""nvidia.cdi_regenerate: write the NVIDIA CDI spec again for the driver and GPUs there are now.

A spec generated before a driver upgrade or a MIG change names files and devices that no
longer match (docker.cdi, nvidia.cdi_mode). `nvidia-ctk cdi generate` prints the spec for the
host as it is now; the plan runs it (it only reads the driver) and shows the difference with the
spec in place, then the fix writes it atomically after a backup to the path in use (the refresh
unit's /var/run/cdi/nvidia.yaml where the toolkit ships it). Where the toolkit's
nvidia-cdi-refresh units are installed but off, it enables them so the next driver upgrade
regenerates the spec by itself.
"""

from __future__ import annotations

from gpudoctor import TYPE_CHECKING, fixer
from gpudoctor.errors import HostError
from gpudoctor.facts import Facts
from gpudoctor.facts.nvidia_layer import nvidia_specs, refresh_units
from gpudoctor.plugin import Fix, FixContext, FixFailed, Plan, Step, StepKind

if TYPE_CHECKING:
    from typing import Any

REFRESH_SPEC = "/var/run/cdi/nvidia.yaml"
PERSISTENT_SPEC = "/etc/cdi/nvidia.yaml"
CMD_GENERATE = "nvidia-ctk-cdi-generate"
GENERATE_TIMEOUT = 60.0


def target_path(facts: Facts, shipped: list[str]) -> str:
    """Where the spec goes: the NVIDIA spec in use, else the refresh unit's path, else /etc."""
    specs = nvidia_specs(facts)
    stale = [s for s in specs if s.stale] or specs
    if stale:
        return stale[0].path
    broken = [s.path for s in facts.cdi.broken_specs if "nvidia" in s.path]
    if broken:
        return broken[0]
    return REFRESH_SPEC if shipped else PERSISTENT_SPEC


class NvidiaCdiRegenerate(Fix):
    id = "nvidia.cdi_regenerate"
    title = "Regenerate the NVIDIA CDI spec for the driver and GPUs of now"
    after = ("nvidia.install_toolkit",)

    def plan(self, facts: Facts, ctx: FixContext) -> Plan:
        plan = Plan(self.id, self.title)
        ctk = facts.toolkit.binaries.get("nvidia-ctk") or facts.host.which("nvidia-ctk")
        if ctk is None:
            plan.blocked = ("nvidia-ctk (package nvidia-container-toolkit-base) is not "
                            "installed; install the toolkit first (nvidia.install_toolkit)")
            return plan
        shipped, enabled = refresh_units(facts)
        path = target_path(facts, shipped)
        plan.data["path"] = path
        result = facts.host.run(CMD_GENERATE, [ctk, "cdi", "generate"], timeout=GENERATE_TIMEOUT)
        if result is None:
            plan.blocked = ("`nvidia-ctk cdi generate` was not recorded in this host root; run "
                            "the fix on the host itself")
            return plan
        if not result.ok or not result.stdout.strip():
            tail = [ln for ln in (result.stderr or result.stdout).splitlines() if ln.strip()]
            plan.blocked = ("`nvidia-ctk cdi generate` failed"
                            + (f": {tail[-1]}" if tail else "") + "; the spec was left as it is")
            return plan
        new = result.stdout.encode()
        try:
            current = facts.host.read_optional(path)
        except HostError as exc:
            plan.blocked = f"cannot read {path}: {exc.reason}"
            return plan
        old = current.encode() if current is not None else None
        if old != new:
            plan.steps.append(fixer.write_step(
                path, old, new, f"write the spec `nvidia-ctk cdi generate` prints now to {path}, "
                "atomically" + (" after a backup" if old is not None else "")))
            plan.data["old_sha"] = fixer.sha256(old)
        missing = [u for u in shipped if u not in enabled]
        if missing:
            plan.steps.append(Step(StepKind.COMMAND, "enable the toolkit's refresh units so driver "
                                   "upgrades regenerate the spec",
                                   argv=["systemctl", "enable", *missing]))
        if not plan.steps:
            plan.noop = True
            plan.reason = f"{path} already matches what `nvidia-ctk cdi generate` prints"
            return plan
        plan.notes.append("running containers keep the devices they started with; recreate "
                          "those that fail")
        return plan

    def apply(self, plan: Plan, facts: Facts, ctx: FixContext, log: Any) -> None:
        for step in plan.steps:
            if step.kind == "write":
                assert step.new_content is not None
                fixer.write_planned(ctx, self.id, step.path, step.new_content,
                                    plan.data.get("old_sha"), log, mode=0o644)
            elif step.argv:
                try:
                    fixer.run_command(step.argv, log, timeout=30.0)
                except FixFailed as exc:
                    log(f"  {exc} (the spec itself was written)")
