"""containerd.configure_nvidia_runtime: declare the nvidia runtime in a drop-in that
containerd's config.toml imports.

The entry is nvidia-ctk's own (`nvidia-ctk runtime configure --runtime=containerd --dry-run`),
with runc's settings (SystemdCgroup) as its template; the files are gpudoctor's: a drop-in
`conf.d/99-nvidia.toml` beside config.toml (where toolkit 1.18+ puts it) and one `imports`
entry added to config.toml with tomlkit, so the person's comments and layout stay. Both are
written atomically after a backup.

containerd 1.x takes each plugin section of an imported file whole, so for config version 2
the drop-in carries the complete CRI section of config.toml plus the runtime (a drop-in with
only the runtime would make containerd forget runc); version 3 merges key by key, so there
the drop-in holds only the runtime. After writing, `containerd --config FILE config dump`
must show the runtime, or the files are put back.
"""

from __future__ import annotations

import copy
import fnmatch
import posixpath
import sys

from gpudoctor import TYPE_CHECKING, fixer
from gpudoctor.facts import Facts
from gpudoctor.facts.containerd import CRI_PLUGIN, ContainerdState, get_path
from gpudoctor.fixes._toml_runtime import (
    NVIDIA_BINARY,
    add_import,
    ctk_entry,
    roll_back,
    run_quiet,
    to_tomlkit,
    write_planned,
)
from gpudoctor.plugin import Fix, FixContext, FixFailed, Plan

if TYPE_CHECKING:
    from typing import Any

HEADER = ("# Written by gpudoctor (containerd.configure_nvidia_runtime): the nvidia runtime of\n"
          "# the NVIDIA Container Toolkit, imported by {main}.\n")


def dropin_paths(config_path: str) -> tuple[str, str]:
    """(the drop-in file, the imports pattern that loads it) beside config.toml."""
    folder = posixpath.join(posixpath.dirname(config_path), "conf.d")
    return posixpath.join(folder, "99-nvidia.toml"), posixpath.join(folder, "*.toml")


def default_entry(c: ContainerdState) -> dict[str, Any]:
    """What nvidia-ctk writes: runc's table as the template, its own BinaryName."""
    runc = c.runtimes.get("runc")
    entry: dict[str, Any] = copy.deepcopy(runc) if isinstance(runc, dict) else {}
    entry["runtime_type"] = "io.containerd.runc.v2"
    entry.setdefault("options", {})["BinaryName"] = NVIDIA_BINARY
    return entry


def imported(c: ContainerdState, dropin: str) -> bool:
    data = (c.main.data if c.main is not None else None) or {}
    base = posixpath.dirname(c.config_path)
    for pattern in data.get("imports") or []:
        if isinstance(pattern, str):
            full = pattern if pattern.startswith("/") else posixpath.join(base, pattern)
            if fnmatch.fnmatchcase(dropin, full):
                return True
    return False


class ConfigureContainerdNvidiaRuntime(Fix):
    id = "containerd.configure_nvidia_runtime"
    title = "Declare the nvidia runtime in containerd's configuration (a drop-in it imports)"
    after = ("nvidia.install_toolkit",)

    def plan(self, facts: Facts, ctx: FixContext) -> Plan:
        plan = Plan(self.id, self.title)
        c = facts.containerd
        main_path = ctx.get("config") or c.config_path
        if not c.installed:
            plan.blocked = "containerd is not installed"
            return plan
        if c.broken_files:
            bad = c.broken_files[0]
            plan.blocked = (f"{bad.path} is not valid TOML ({bad.error}); gpudoctor never "
                            "rewrites a file it cannot parse: correct it first")
            return plan
        main_exists = c.main is not None and c.main.error != "does not exist"
        version = c.config_version if main_exists else (3 if (c.major or 1) >= 2 else 2)
        if version < 2:
            plan.blocked = (f"{main_path} is containerd's config version 1; write it as "
                            "version 2 first (`containerd config default` shows the layout)")
            return plan
        plugin = CRI_PLUGIN[version]
        dropin, pattern = dropin_paths(main_path)
        shadow = c.plugin_source.get(plugin)
        if c.dropin_shadow() and shadow != dropin:
            plan.blocked = (f"{shadow} replaces containerd's whole CRI section; merge it into "
                            f"{main_path} by hand first (gpudoctor does not rewrite other "
                            "people's drop-ins)")
            return plan
        entry, ctk_step = ctk_entry(facts, "containerd", main_path,
                                    ("plugins", plugin, "containerd", "runtimes"), ctx, plan)
        if plan.blocked:
            return plan
        entry = entry or default_entry(c)
        runc_cgroup = c.systemd_cgroup("runc")
        if runc_cgroup is not None:
            entry.setdefault("options", {})["SystemdCgroup"] = runc_cgroup
        wants_default = bool(ctx.get("set_default_runtime"))
        current = c.runtimes.get("nvidia")
        binary = get_path(current, "options", "BinaryName")
        if (isinstance(current, dict) and isinstance(binary, str) and facts.host.exists(binary)
                and not c.dropin_shadow()
                and (runc_cgroup is None or c.systemd_cgroup("nvidia") == runc_cgroup)
                and (not wants_default or c.default_runtime == "nvidia")):
            plan.noop = True
            plan.reason = (f"containerd's configuration already declares the nvidia "
                                   f"runtime ({binary})")
            return plan
        if version >= 3:
            cri: dict[str, Any] = {"containerd": {"runtimes": {"nvidia": entry}}}
        else:
            mine = get_path(c.main.data if c.main else None, "plugins", plugin)
            cri = copy.deepcopy(mine) if isinstance(mine, dict) else {}
            cri.setdefault("containerd", {}).setdefault("runtimes", {})["nvidia"] = entry
            plan.notes.append(
                f"containerd {c.version or '1.x'} replaces a whole plugin section with an "
                f"imported file's, so the drop-in carries {main_path}'s complete `{plugin}` "
                "section as well: later edits to that section belong in the drop-in")
        if wants_default:
            cri.setdefault("containerd", {})["default_runtime_name"] = "nvidia"
        import tomlkit

        new_dropin = HEADER.format(main=main_path) + tomlkit.dumps(
            to_tomlkit({"version": version, "plugins": {plugin: cri}}))
        old_main = c.main.text if main_exists and c.main else None
        old_dropin = facts.host.read_optional(dropin)
        plan.data.update({"config": main_path, "dropin": dropin, "plugin": plugin,
                          "old_sha": {}, "kubelet": facts.kubelet.present})
        if ctk_step is not None:
            plan.steps.append(ctk_step)
        for path, old, new, what in (
                (dropin, old_dropin, new_dropin, "the nvidia runtime"),
                (main_path, old_main, None if imported(c, dropin) else
                 add_import(old_main if old_main is not None else f"version = {version}\n",
                            pattern), f"import {pattern}")):
            if new is None or (old is not None and old == new):
                continue
            old_b = old.encode() if old is not None else None
            plan.data["old_sha"][path] = fixer.sha256(old_b)
            plan.steps.append(fixer.write_step(
                path, old_b, new.encode(), f"{'create' if old is None else 'rewrite'} {path} "
                f"atomically ({what})" + (", after a timestamped backup" if old else "")))
        if not any(step.kind == "write" for step in plan.steps):
            plan.steps.clear()
            plan.noop = True
            plan.reason = (f"{dropin} and {main_path} already hold exactly this; the "
                                   "runtime's binary comes with nvidia.install_toolkit")
            return plan
        plan.notes.append("containerd reads its configuration only when it starts: "
                          "containerd.restart makes it take effect")
        return plan

    def apply(self, plan: Plan, facts: Facts, ctx: FixContext, log: Any) -> None:
        write_planned(plan, self.id, ctx, log)
        problem = verify_dump(plan.data["config"], plan.data["plugin"])
        if problem is None:
            log("  verified: `containerd config dump` shows the nvidia runtime")
            return
        restored = roll_back([plan.data["config"], plan.data["dropin"]], ctx, log)
        raise FixFailed(f"containerd does not load what was written ({problem}); restored "
                        f"{', '.join(restored) or 'nothing'}")


def dump(config: str) -> tuple[dict[str, Any] | None, str]:
    """`containerd --config FILE config dump`: the merged configuration, or why not."""
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # Python 3.10
        import tomli as tomllib

    from gpudoctor.host import changes

    result = changes.execute(["containerd", "--config", config, "config", "dump"], 30.0)
    if result.missing:
        return None, "missing"
    if result.returncode != 0 or result.timed_out:
        lines = (result.stderr or result.stdout).strip().splitlines()
        return None, lines[-1] if lines else f"exit status {result.returncode}"
    try:
        return tomllib.loads(result.stdout), ""
    except tomllib.TOMLDecodeError as exc:
        return None, f"its output is not TOML: {exc}"


def verify_dump(config: str, plugin: str) -> str | None:
    """None when containerd's own merge of `config` shows the nvidia runtime (or containerd
    cannot be run here); else what is wrong."""
    data, error = dump(config)
    if data is None:
        return None if error == "missing" else f"`containerd config dump` fails: {error}"
    if get_path(data, "plugins", plugin, "containerd", "runtimes", "nvidia") is None:
        return "`containerd config dump` shows no nvidia runtime"
    return None


__all__ = ["ConfigureContainerdNvidiaRuntime", "dropin_paths", "dump", "run_quiet",
           "verify_dump"]
