"""docker.configure_nvidia_runtime: declare the nvidia runtime in the daemon.json dockerd reads.

`nvidia-ctk runtime configure` knows what the entry must be, but it rewrites the whole file:
keys re-sorted, its own indent, no backup, truncate-then-write, and `--cdi.enabled` drops the
other `features` keys in every release so far (nvidia-container-stack.md §1). So this fix asks
it with `--dry-run` for the intended content, takes ONLY `runtimes.nvidia` from it (plus
`default-runtime` / `features.cdi` when those options are asked for), and splices that into
the person's own text: their keys, order, indentation and `features` stay as they were. The
result is written atomically after a timestamped backup.
"""

from __future__ import annotations

import json
import os

from gpudoctor import TYPE_CHECKING, fixer
from gpudoctor.facts import Facts
from gpudoctor.facts.docker import flag_conflicts, parse_daemon_json
from gpudoctor.fixer import Log
from gpudoctor.host import changes, safefile
from gpudoctor.jsonsplice import merge_into
from gpudoctor.plugin import Fix, FixContext, Plan, Step, StepKind

if TYPE_CHECKING:
    from typing import Any

RUNTIME_NAME = "nvidia"
#: What nvidia-ctk writes by default (configure.go: relative path, "args": []).
DEFAULT_ENTRY = {"args": [], "path": "nvidia-container-runtime"}
CTK_TIMEOUT = 20.0


# ----- nvidia-ctk -----------------------------------------------------------------------------
def find_nvidia_ctk(facts: Facts) -> str | None:
    host = facts.host
    for path_env in (None, facts.docker.path_env):
        found = host.which("nvidia-ctk", path_env)
        if found:
            return found
    return None


def ctk_error(stderr: str) -> str:
    """The message of nvidia-ctk's logrus error line, in either of logrus's formats."""
    lines = [ln for ln in stderr.strip().splitlines() if ln.strip()]
    for line in reversed(lines):
        if "level=error" in line or "level=fatal" in line:
            start = line.find('msg="')
            if start >= 0:
                body = line[start + 5:]
                end = body.rfind('"')
                return body[:end].replace('\\"', '"') if end >= 0 else body
        if line.startswith(("ERRO[", "FATA[")):
            return line.split("]", 1)[-1].strip()
        if line.startswith("panic:"):
            return line
    return lines[-1] if lines else "no output"


def _wanted_flags(ctx: FixContext) -> list[str]:
    flags = []
    if ctx.options.set_default_runtime:
        flags.append("--set-as-default")
    if ctx.options.enable_cdi:
        flags.append("--cdi.enabled")
    return flags


def _runtime_resolves(facts: Facts, entry: Any) -> str | None:
    """Where the declared runtime executable is, as dockerd would find it; None if nowhere."""
    if not isinstance(entry, dict) or not isinstance(entry.get("path"), str):
        return None
    path = entry["path"]
    host = facts.host
    if path.startswith("/"):
        st = host.stat(path)
        return path if st is not None and st.kind == "file" and st.mode & 0o111 else None
    return host.which(path, facts.docker.path_env)


def _unknown_daemon(daemon: Any) -> str:
    """What is unknown when no daemon answers and none is seen, and how to point at it."""
    why = f" ({daemon.error})" if daemon.error else ""
    return (f"gpudoctor cannot tell which Docker daemon serves {daemon.endpoint}{why}: no "
            "dockerd process listens there and it did not answer, so which configuration file "
            "it reads is unknown and nothing is configured. Start the daemon (`sudo systemctl "
            "start docker`) or point gpudoctor at the one you use (`DOCKER_HOST=unix:///PATH/"
            "docker.sock`, or `docker context use NAME`), then run this fix again")


class ConfigureNvidiaRuntime(Fix):
    id = "docker.configure_nvidia_runtime"
    title = "Declare the nvidia runtime in the Docker daemon's configuration file"
    order = 30
    after = ("nvidia.install_toolkit",)

    def plan(self, facts: Facts, ctx: FixContext) -> Plan:
        plan = Plan(self.id, self.title)
        daemon = facts.docker
        path = daemon.config_path
        plan.data["path"] = path
        if daemon.mode == "desktop":
            plan.blocked = ("Docker Desktop runs its engine inside a VM, which the NVIDIA "
                            "Container Toolkit cannot give the GPU; use Docker Engine")
            return plan
        if daemon.mode == "remote":
            plan.blocked = (f"the daemon at {daemon.endpoint} runs on another machine; run "
                            "gpudoctor there")
            return plan
        if daemon.mode == "unknown":
            plan.blocked = _unknown_daemon(daemon)
            return plan
        cfg = daemon.config
        refusal = cfg.edit_refusal(path)
        if refusal:
            plan.blocked = refusal
            return plan
        data = cfg.data or {}
        runtimes = data.get("runtimes")
        if runtimes is not None and not isinstance(runtimes, dict):
            plan.blocked = (f"`runtimes` in {path} is a JSON {type(runtimes).__name__}, not an "
                            "object; dockerd rejects that and nvidia-ctk crashes on it. Make it "
                            "an object (or remove it) first")
            return plan
        features = data.get("features")
        if ctx.options.enable_cdi and features is not None and not isinstance(features, dict):
            plan.blocked = f"`features` in {path} is not an object; fix it first"
            return plan
        if "--add-runtime" in daemon.flags and "runtimes" not in data:
            flags = ", ".join(daemon.flags["--add-runtime"])
            plan.blocked = (
                f"dockerd is started with --add-runtime ({flags}); a `runtimes` key in {path} "
                "would make it refuse to start or reload (\"specified both as a flag and in "
                "the configuration file\"). Add `--add-runtime=nvidia=nvidia-container-runtime` "
                "to dockerd's command line instead")
            return plan

        existing = (runtimes or {}).get(RUNTIME_NAME)
        wants_default = bool(ctx.options.set_default_runtime)
        wants_cdi = bool(ctx.options.enable_cdi)
        default_ok = not wants_default or data.get("default-runtime") == RUNTIME_NAME
        cdi_ok = not wants_cdi or (isinstance(features, dict) and features.get("cdi") is True)
        resolved = _runtime_resolves(facts, existing)
        if existing is not None and resolved and default_ok and cdi_ok:
            plan.noop = True
            plan.reason = (f"{path} already declares the nvidia runtime "
                           f"(path {existing.get('path')}, found at {resolved})")
            return plan

        entry, default_runtime, ctk_step, notes = self._intended(facts, ctx, path, cfg.state,
                                                                 plan)
        if plan.blocked:
            return plan
        plan.notes.extend(notes)
        if existing is not None and existing == entry and default_ok and cdi_ok:
            plan.noop = True
            plan.reason = (f"{path} already declares the nvidia runtime as nvidia-ctk "
                           f"would ({entry.get('path')}); nvidia.install_toolkit "
                           "provides the executable")
            return plan

        changes: list[tuple[list[str], Any]] = [(["runtimes", RUNTIME_NAME], entry)]
        changed_keys = ["runtimes"]
        if wants_default and not default_ok:
            changes.append((["default-runtime"], default_runtime or RUNTIME_NAME))
            changed_keys.append("default-runtime")
        if wants_cdi and not cdi_ok:
            changes.append((["features", "cdi"], True))
            changed_keys.append("features")
        old_text = cfg.exact_text if cfg.state == "ok" else None
        new_text = merge_into(old_text, changes)
        new_parsed = parse_daemon_json(path, new_text)
        if new_parsed.state != "ok":  # never expected; refuse rather than write garbage
            plan.blocked = f"the merged configuration does not parse: {new_parsed.error}"
            return plan
        conflicts = [k for k in flag_conflicts(daemon.flags, new_parsed.data)
                     if k not in daemon.conflicts]
        if conflicts:
            plan.blocked = (f"dockerd's command line already sets {', '.join(conflicts)}; "
                            f"writing it into {path} too would stop dockerd from starting")
            return plan
        # Bytes, not decoded text: a file with bytes that are not UTF-8 (which dockerd accepts)
        # must compare equal to itself at apply time, and keep those bytes where unchanged.
        old_bytes = cfg.raw
        new_bytes = new_text.encode("utf-8", "surrogateescape")
        if old_bytes == new_bytes:
            plan.noop = True
            plan.reason = f"{path} already holds exactly this configuration"
            return plan
        if ctk_step is not None:
            plan.steps.append(ctk_step)
        what = "create" if old_bytes is None else "rewrite"
        plan.steps.append(fixer.write_step(
            path, old_bytes, new_bytes,
            f"{what} {path} atomically" + (" after a timestamped backup beside it"
                                            if old_bytes is not None else "")))
        if cfg.state == "empty":
            plan.notes.append(f"{path} is empty, which dockerd cannot start with; it becomes a "
                              "JSON object holding the runtime")
        if cfg.duplicate_keys:
            plan.notes.append(f"{path} repeats the keys {', '.join(cfg.duplicate_keys)}; only "
                              "the last of each (the one dockerd uses) is kept")
        if existing is not None:
            plan.notes.append(f"the existing nvidia entry {json.dumps(existing)} names a runtime "
                              "that dockerd cannot find; it is replaced")
        plan.changed_keys = changed_keys
        plan.data.update({"old_sha": fixer.sha256(old_bytes), "entry": entry,
                          "mode": daemon.mode})
        if daemon.mode == "rootless":
            plan.notes.append(
                "rootless Docker: the toolkit's hook must also run with `no-cgroups = true` in "
                "its config.toml (a host-wide setting); planned as nvidia.rootless_no_cgroups")
            plan.suggests = ["nvidia.rootless_no_cgroups"]
            owner = _owner_of_folder(facts, path)
            if owner is not None and old_bytes is None:
                # The person's own daemon.json: a file root creates there must stay theirs,
                # or their rootless dockerd could not read it back after the next edit.
                plan.data["owner"] = list(owner)
                plan.notes.append(f"{path} is the person's file: it is created with the owner "
                                  f"of its folder (uid {owner[0]}, gid {owner[1]}), not root")
        plan.notes.append("dockerd reads this file only when it starts or reloads: "
                          "docker.reload makes it take effect")
        return plan

    def _intended(self, facts: Facts, ctx: FixContext, path: str, state: str,
                  plan: Plan) -> tuple[dict[str, Any], str | None, Step | None, list[str]]:
        """nvidia-ctk's intended entry (and default-runtime), the step that ran it, notes."""
        host = facts.host
        ctk = find_nvidia_ctk(facts)
        notes: list[str] = []
        if ctk is None:
            install = ctx.earlier("nvidia.install_toolkit")
            if fixer.is_active(install):
                plan.deferred = True
                notes.append("nvidia-ctk comes with the toolkit: the entry shown is nvidia-ctk's "
                             "default, and it is asked again once nvidia.install_toolkit has run")
                return dict(DEFAULT_ENTRY), None, None, notes
            if not host.live:
                notes.append("nvidia-ctk is not run on a host root: the entry shown is what it "
                             "writes by default")
                return dict(DEFAULT_ENTRY), None, None, notes
            plan.blocked = (
                "nvidia-ctk is not installed (it comes with nvidia-container-toolkit-base), so "
                "the runtime entry cannot be made: run `gpudoctor fix nvidia.install_toolkit "
                "docker.configure_nvidia_runtime docker.reload` (add --bundle PATH offline)")
            return {}, None, None, notes
        with changes.scratch("gpudoctor-ctk-") as tmp:
            # An empty file makes nvidia-ctk fail with EOF: ask it about a missing file instead.
            target = os.path.join(tmp, "daemon.json") if state == "empty" else path
            argv = [ctk, "runtime", "configure", "--runtime=docker", f"--config={target}",
                    "--dry-run", *_wanted_flags(ctx)]
            result = host.run("nvidia-ctk-runtime-configure-dry-run", argv, CTK_TIMEOUT)
        if result is None:
            notes.append("nvidia-ctk's answer was not recorded in this root: the entry shown is "
                         "what it writes by default")
            return dict(DEFAULT_ENTRY), None, None, notes
        if not result.ok:
            reason = ("did not finish in time" if result.timed_out else
                      ctk_error(result.stderr or result.stdout))
            plan.blocked = f"`nvidia-ctk runtime configure --dry-run` failed: {reason}"
            return {}, None, None, notes
        try:
            intended = json.loads(result.stdout)
            entry = intended["runtimes"][RUNTIME_NAME]
            if not isinstance(entry, dict):
                raise TypeError("the runtime entry is not an object")
        except (ValueError, KeyError, TypeError) as exc:
            plan.blocked = f"nvidia-ctk's --dry-run output is not the expected JSON ({exc})"
            return {}, None, None, notes
        shown = [a if not a.startswith("--config=") else f"--config={path}" for a in argv]
        step = Step(kind=StepKind.COMMAND,
                    description="asked nvidia-ctk (read-only, already run) for the entry it "
                    "would write; only that entry is taken from its answer",
                    argv=shown)
        default = intended.get("default-runtime") if ctx.options.set_default_runtime else None
        return entry, default, step, notes

    def apply(self, plan: Plan, facts: Facts, ctx: FixContext, log: Log) -> None:
        path = plan.data["path"]
        write = next(s for s in plan.steps if s.kind == "write")
        current = safefile.read_current(path)
        if fixer.sha256(current) != plan.data.get("old_sha"):
            raise fixer.PlanOutdated(f"{path} changed since the plan was made")
        assert write.new_content is not None
        owner = plan.data.get("owner")
        uid, gid = (owner[0], owner[1]) if owner else (None, None)
        result = safefile.atomic_write(path, write.new_content, backup=True, uid=uid, gid=gid)
        fixer.record_write(ctx, self.id, result, write.new_content)
        if result.backup:
            log(f"  kept the previous {path} as {result.backup}")
        log(f"  wrote {path} ({'created' if result.created else 'replaced atomically'})")


def _owner_of_folder(facts: Facts, path: str) -> tuple[int, int] | None:
    """(uid, gid) of the nearest existing folder above `path` (a per-user daemon.json lives in
    the person's home); None when none can be read."""
    folder = path.rsplit("/", 1)[0]
    while folder:
        st = facts.host.stat(folder)
        if st is not None:
            return (st.uid, st.gid) if st.kind == "dir" else None
        folder = folder.rsplit("/", 1)[0]
    return None
