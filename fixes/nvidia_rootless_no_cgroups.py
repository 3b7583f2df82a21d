"""nvidia.rootless_no_cgroups: `no-cgroups = true` for the toolkit when Docker is rootless.

A rootless daemon cannot manage device cgroups, so NVIDIA's install guide has rootless users
run `sudo nvidia-ctk config --set nvidia-container-cli.no-cgroups --in-place`. That command
re-renders the whole config.toml (and writes it in place); this fix sets the one key with
tomlkit instead, so every comment and setting of the person's file stays, and writes it
atomically after a timestamped backup. Which file is the one facts/toolkit.py names
(toolkit_config_path), so the check and the fix never disagree. The setting is host-wide: a
root daemon's GPU containers then run without device-cgroup isolation
(nvidia-container-stack.md §1.4), which the plan says.
"""

from __future__ import annotations

from gpudoctor import fixer, tomlfile
from gpudoctor.errors import HostError
from gpudoctor.facts import Facts
from gpudoctor.facts.toolkit import toolkit_config_for
from gpudoctor.fixer import Log
from gpudoctor.plugin import Fix, FixContext, Plan

TABLE = "nvidia-container-cli"
KEY = "no-cgroups"


class RootlessNoCgroups(Fix):
    id = "nvidia.rootless_no_cgroups"
    title = "Let the NVIDIA hook run without cgroups, as rootless Docker needs"
    order = 20
    after = ("nvidia.install_toolkit",)

    def plan(self, facts: Facts, ctx: FixContext) -> Plan:
        plan = Plan(self.id, self.title)
        daemon = facts.docker
        if daemon.mode != "rootless":
            plan.blocked = (
                f"the Docker daemon is not rootless ({daemon.mode}); `no-cgroups = true` is "
                "host-wide and would take device-cgroup isolation away from a root daemon's "
                "GPU containers, so it is set only for rootless Docker")
            return plan
        cfg = toolkit_config_for(facts)
        path, why = cfg.path, cfg.why
        plan.data["path"] = path
        try:
            text = facts.host.read_optional(path)
        except HostError as exc:
            plan.blocked = f"cannot read {path}: {exc.reason}"
            return plan
        try:
            current = tomlfile.get(tomlfile.loads(text or ""), TABLE, KEY)
            new_text = tomlfile.set_key(text or "", TABLE, KEY, True)
        except tomlfile.TomlError as exc:
            plan.blocked = (f"{path} is not valid TOML ({exc}); gpudoctor never "
                            "overwrites a file it cannot parse: fix it first")
            return plan
        if current is True:
            plan.noop = True
            plan.reason = f"{path} already sets {KEY} = true in [{TABLE}]"
            return plan
        if tomlfile.get(tomlfile.loads(new_text), TABLE, KEY) is not True:
            plan.blocked = f"editing {path} would not give a valid `{KEY} = true`; edit it by hand"
            return plan
        change = (f"set `{KEY} = true` in [{TABLE}]" if text and f"[{TABLE}]" in text
                  else f"added [{TABLE}] with `{KEY} = true`")
        old = text.encode() if text is not None else None
        plan.steps.append(fixer.write_step(
            path, old, new_text.encode(),
            f"{change} in {path} ({why}), atomically after a backup; the same as "
            "`nvidia-ctk config --set nvidia-container-cli.no-cgroups --in-place` without "
            "re-rendering the file"))
        plan.notes.append("no-cgroups is host-wide: GPU containers of a root Docker daemon on "
                          "this host would then run without device-cgroup isolation")
        plan.data["old_sha"] = fixer.sha256(old)
        return plan

    def apply(self, plan: Plan, facts: Facts, ctx: FixContext, log: Log) -> None:
        path = plan.data["path"]
        step = plan.steps[0]
        assert step.new_content is not None
        fixer.write_planned(ctx, self.id, path, step.new_content, plan.data["old_sha"], log)
