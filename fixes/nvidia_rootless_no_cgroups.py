"""nvidia.rootless_no_cgroups: `no-cgroups = true` for the toolkit when Docker is rootless.

A rootless daemon cannot manage device cgroups, so NVIDIA's install guide has rootless users
run `sudo nvidia-ctk config --set nvidia-container-cli.no-cgroups --in-place`. That command
re-renders the whole config.toml (and writes it in place); this fix changes the one line
instead, so every comment and setting of the person's file stays, and writes it atomically
after a timestamped backup. The setting is host-wide: a root daemon's GPU containers then run
without device-cgroup isolation (nvidia-container-stack.md §1.4), which the plan says.
"""

from __future__ import annotations

import re
from typing import Any

from gpudoctor import fixer
from gpudoctor.errors import HostError
from gpudoctor.facts import Facts
from gpudoctor.fixer import Log
from gpudoctor.host import safefile
from gpudoctor.plugin import Fix, FixContext, Plan

SYSTEM_CONFIG = "/etc/nvidia-container-runtime/config.toml"
TABLE = "nvidia-container-cli"
KEY = "no-cgroups"
_TABLE_RE = re.compile(r"^\s*\[\s*([^\]\[]+?)\s*\]\s*(#.*)?$")
_KEY_RE = re.compile(r"^(\s*)(#\s*)?no-cgroups\s*=\s*(\S+)(.*)$")


def toolkit_config_path(facts: Facts) -> tuple[str, str]:
    """The config.toml the hook reads for this daemon, and why (it gets dockerd's env)."""
    proc = facts.docker.process
    env = proc.env if proc else {}
    if env.get("XDG_CONFIG_HOME"):
        return (f"{env['XDG_CONFIG_HOME'].rstrip('/')}/nvidia-container-runtime/config.toml",
                "dockerd's XDG_CONFIG_HOME (the hook gets dockerd's environment)")
    return SYSTEM_CONFIG, "the toolkit's default"


def set_no_cgroups(text: str) -> tuple[str, str]:
    """Return (new text, what changed) with no-cgroups = true in [nvidia-container-cli].

    An existing `no-cgroups` line is changed in place; the commented default `#no-cgroups =
    false` is uncommented; else the key is added right under the table header (or the table
    is added at the end). "" as the change means the file already says true.
    """
    lines = text.splitlines(keepends=True)
    table = None
    header_at = None
    commented_at = None
    for i, line in enumerate(lines):
        match = _TABLE_RE.match(line)
        if match:
            table = match.group(1).strip().strip('"')
            if table == TABLE and header_at is None:
                header_at = i
            continue
        if table != TABLE:
            continue
        key = _KEY_RE.match(line.rstrip("\r\n"))
        if not key:
            continue
        indent, comment, value, rest = key.groups()
        if comment:
            commented_at = commented_at if commented_at is not None else i
            continue
        if value == "true":
            return text, ""
        ending = line[len(line.rstrip("\r\n")):]
        lines[i] = f"{indent}{KEY} = true{rest}{ending}"
        return "".join(lines), f"changed `{KEY} = {value}` to `{KEY} = true`"
    if commented_at is not None:
        line = lines[commented_at]
        indent = line[: len(line) - len(line.lstrip())]
        ending = line[len(line.rstrip("\r\n")):] or "\n"
        lines[commented_at] = f"{indent}{KEY} = true{ending}"
        return "".join(lines), f"uncommented `{KEY}` and set it to true"
    if header_at is not None:
        lines.insert(header_at + 1, f"{KEY} = true\n")
        return "".join(lines), f"added `{KEY} = true` to [{TABLE}]"
    prefix = "" if not text or text.endswith("\n") else "\n"
    sep = "\n" if text.strip() else ""
    return text + prefix + sep + f"[{TABLE}]\n{KEY} = true\n", f"added [{TABLE}] with {KEY}"


def toml_problem(text: str) -> str | None:
    """None when the text parses as TOML, else the parser's message (with line and column)."""
    try:
        import tomllib
    except ImportError:  # Python 3.10: no parser in the standard library; the line edit stays
        return None
    try:
        tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        return str(exc)
    return None


def _value(text: str) -> Any:
    try:
        import tomllib
    except ImportError:
        return None
    return tomllib.loads(text).get(TABLE, {}).get(KEY)


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
        path, why = toolkit_config_path(facts)
        plan.data["path"] = path
        try:
            text = facts.host.read_optional(path)
        except HostError as exc:
            plan.blocked = f"cannot read {path}: {exc.reason}"
            return plan
        if text is not None:
            problem = toml_problem(text)
            if problem:
                plan.blocked = (f"{path} is not valid TOML ({problem}); gpudoctor never "
                                "overwrites a file it cannot parse: fix it first")
                return plan
        new_text, change = set_no_cgroups(text or "")
        if not change:
            plan.noop = True
            plan.reason = f"{path} already sets {KEY} = true in [{TABLE}]"
            return plan
        if toml_problem(new_text) or _value(new_text) not in (True, None):
            plan.blocked = f"editing {path} would not give a valid `{KEY} = true`; edit it by hand"
            return plan
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
        if fixer.sha256(safefile.read_current(path)) != plan.data["old_sha"]:
            raise fixer.PlanOutdated(f"{path} changed since the plan was made")
        assert step.new_content is not None
        result = safefile.atomic_write(path, step.new_content)
        fixer.record_write(ctx, self.id, result, step.new_content)
        if result.backup:
            log(f"  kept the previous {path} as {result.backup}")
        log(f"  wrote {path}")
