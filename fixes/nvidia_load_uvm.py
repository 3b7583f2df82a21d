"""nvidia.load_uvm: load nvidia_uvm now, create /dev/nvidia-uvm, and load it at every boot.

Loading is `nvidia-modprobe -u -c=0` (it also creates the device files with the driver's
modes) or `modprobe nvidia_uvm`; persistence is one line in
/etc/modules-load.d/nvidia-uvm.conf, read by systemd-modules-load at boot. Both are idempotent:
a host that already has both gets a no-op plan.
"""

from __future__ import annotations

from gpudoctor import TYPE_CHECKING, fixer
from gpudoctor.errors import HostError
from gpudoctor.facts import Facts
from gpudoctor.facts.nvidia_uvm import PERSIST_FILE, UVM_NODE, persisted_by
from gpudoctor.plugin import Fix, FixContext, FixFailed, Plan, Step, StepKind

if TYPE_CHECKING:
    from typing import Any

CONTENT = b"# Written by gpudoctor (nvidia.load_uvm): CUDA needs nvidia_uvm loaded at boot.\n" \
          b"nvidia-uvm\n"


class LoadNvidiaUvm(Fix):
    id = "nvidia.load_uvm"
    title = "Load nvidia_uvm (CUDA unified memory) now and at every boot"

    def plan(self, facts: Facts, ctx: FixContext) -> Plan:
        plan = Plan(self.id, self.title)
        if "nvidia" not in facts.modules:
            plan.blocked = ("the nvidia kernel module is not loaded; nvidia_uvm needs it "
                            "(see kernel.driver)")
            return plan
        uvm = facts.nvidia_uvm
        load_now = not uvm.loaded or uvm.node is None
        if load_now:
            if uvm.nvidia_modprobe:
                argv = [uvm.nvidia_modprobe, "-u", "-c=0"]
                what = f"load nvidia_uvm and create {UVM_NODE} (nvidia-modprobe)"
            elif uvm.modprobe and not uvm.loaded:
                argv = [uvm.modprobe, "nvidia_uvm"]
                what = "load nvidia_uvm (udev creates /dev/nvidia-uvm only when asked: the "\
                       "toolkit or nvidia-modprobe does it on first use)"
            else:
                plan.blocked = (f"neither nvidia-modprobe nor modprobe can create {UVM_NODE}; "
                                "install nvidia-modprobe (it ships with the driver)")
                return plan
            plan.steps.append(Step(StepKind.COMMAND, what, argv=argv))
        if uvm.persisted is None:
            try:
                old = facts.host.read_optional(PERSIST_FILE, 65536)
            except HostError as exc:
                plan.blocked = f"cannot read {PERSIST_FILE}: {exc.reason}"
                return plan
            old_bytes = old.encode() if old is not None else None
            new = (old_bytes.rstrip(b"\n") + b"\n" if old_bytes else b"") + CONTENT
            plan.steps.append(fixer.write_step(PERSIST_FILE, old_bytes, new,
                                               "load nvidia-uvm at every boot "
                                               "(systemd-modules-load)"))
            plan.data["old_sha"] = fixer.sha256(old_bytes)
        elif plan.steps:
            plan.notes.append(f"already loaded at boot by {uvm.persisted}")
        if not plan.steps:
            plan.noop = True
            plan.reason = (f"nvidia_uvm is loaded, {UVM_NODE} exists, and "
                                   f"{(uvm.persisted or '').split(': ')[0]} loads it at boot")
        return plan

    def apply(self, plan: Plan, facts: Facts, ctx: FixContext, log: Any) -> None:
        for step in plan.steps:
            if step.kind == "command":
                fixer.run_command(step.argv, log, timeout=60)
            elif step.kind == "write" and step.new_content is not None:
                if persisted_by(facts.host) is not None:
                    log(f"  {step.path}: nvidia-uvm is already loaded at boot; left as it is")
                    continue
                fixer.write_planned(ctx, self.id, step.path, step.new_content,
                                    plan.data.get("old_sha"), log)
        if not facts.host.exists("/sys/module/nvidia_uvm"):
            raise FixFailed("nvidia_uvm is still not loaded (/sys/module/nvidia_uvm is absent); "
                            "`sudo dmesg | grep -i nvidia` says why")
        if any(s.kind == "command" and "nvidia-modprobe" in s.argv[0] for s in plan.steps) and \
                facts.host.device_node(UVM_NODE) is None:
            raise FixFailed(f"{UVM_NODE} was not created")
        log(f"  nvidia_uvm is loaded; {UVM_NODE} "
            + ("exists" if facts.host.device_node(UVM_NODE) else "appears on first use"))
