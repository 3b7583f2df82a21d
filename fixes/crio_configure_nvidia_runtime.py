"""crio.configure_nvidia_runtime: declare the nvidia runtime in a CRI-O drop-in
(/etc/crio/crio.conf.d/99-nvidia.toml), the entry taken from `nvidia-ctk runtime configure
--runtime=crio --dry-run`, written by gpudoctor atomically. CRI-O merges drop-ins key by key,
so the drop-in holds only the runtime. CRI-O reads every file in that folder, backups too, so
the backup of a previous drop-in is kept one folder up (/etc/crio), never beside it."""

from __future__ import annotations

from gpudoctor import TYPE_CHECKING, fixer
from gpudoctor.facts import Facts
from gpudoctor.fixes._toml_runtime import NVIDIA_BINARY, ctk_entry, to_tomlkit
from gpudoctor.host import safefile
from gpudoctor.plugin import Fix, FixContext, Plan

if TYPE_CHECKING:
    from typing import Any

HEADER = ("# Written by gpudoctor (crio.configure_nvidia_runtime): the nvidia runtime of the "
          "NVIDIA\n# Container Toolkit.\n")


class ConfigureCrioNvidiaRuntime(Fix):
    id = "crio.configure_nvidia_runtime"
    title = "Declare the nvidia runtime in a CRI-O drop-in"
    after = ("nvidia.install_toolkit",)

    def plan(self, facts: Facts, ctx: FixContext) -> Plan:
        plan = Plan(self.id, self.title)
        c = facts.crio
        if not c.installed:
            plan.blocked = "CRI-O is not installed"
            return plan
        if c.broken_files:
            bad = c.broken_files[0]
            plan.blocked = f"{bad.path} is not valid TOML ({bad.error}); correct it first"
            return plan
        wants_default = bool(ctx.get("set_default_runtime"))
        path = c.runtime_path("nvidia")
        if path and facts.host.exists(path) and (not wants_default or
                                                 c.default_runtime == "nvidia"):
            plan.noop = True
            plan.reason = f"CRI-O already declares the nvidia runtime ({path})"
            return plan
        dropin = f"{c.drop_in_dir}/99-nvidia.toml"
        entry, step = ctk_entry(facts, "crio", dropin, ("crio", "runtime", "runtimes"),
                                ctx, plan)
        if plan.blocked:
            return plan
        entry = entry or {"runtime_path": NVIDIA_BINARY, "runtime_type": "oci"}
        runtime: dict[str, Any] = {"runtimes": {"nvidia": entry}}
        if wants_default:
            runtime["default_runtime"] = "nvidia"
        import tomlkit

        new = HEADER + tomlkit.dumps(to_tomlkit({"crio": {"runtime": runtime}}))
        old = facts.host.read_optional(dropin)
        if old == new:
            plan.noop = True
            plan.reason = f"{dropin} already holds exactly this"
            return plan
        old_b = old.encode() if old is not None else None
        plan.data.update({"dropin": dropin, "old_sha": {dropin: fixer.sha256(old_b)}})
        if step is not None:
            plan.steps.append(step)
        plan.steps.append(fixer.write_step(dropin, old_b, new.encode(),
                                           f"{'create' if old is None else 'rewrite'} {dropin} "
                                           "atomically" + ("" if old is None else
                                                           ", the old one kept in /etc/crio")))
        plan.notes.append("CRI-O reads its configuration only when it starts: crio.restart "
                          "makes it take effect")
        return plan

    def apply(self, plan: Plan, facts: Facts, ctx: FixContext, log: Any) -> None:
        import os

        dropin = plan.data["dropin"]
        step = next(s for s in plan.steps if s.kind == "write")
        assert step.new_content is not None
        current = safefile.read_current(dropin)
        if fixer.sha256(current) != plan.data["old_sha"][dropin]:
            raise fixer.PlanOutdated(f"{dropin} changed since the plan was made")
        backup = None
        if current is not None:
            outside = os.path.dirname(os.path.dirname(os.path.realpath(dropin)))
            backup = safefile.backup_name(os.path.join(outside, os.path.basename(dropin)))
            safefile.atomic_write(backup, current, backup=False, new_file_mode=0o600)
            log(f"  kept the previous {dropin} as {backup} (outside the folder CRI-O reads)")
        written = safefile.atomic_write(dropin, step.new_content, backup=False)
        fixer.record_write(ctx, self.id, safefile.WriteResult(
            path=written.path, backup=backup, created=written.created), step.new_content)
        log(f"  wrote {dropin}")
