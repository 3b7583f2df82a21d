"""What containerd.* and crio.* fixes share: asking nvidia-ctk (dry run) for the nvidia runtime
entry, editing TOML with tomlkit so the person's comments and order stay, and restarting an
engine with verify-and-rollback.

Not a plugin module (the leading underscore keeps the registry from loading it).
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable

from gpudoctor import TYPE_CHECKING

if sys.version_info >= (3, 11):
    import tomllib
else:  # Python 3.10
    import tomli as tomllib

from gpudoctor import fixer
from gpudoctor.facts import Facts
from gpudoctor.host import changes, safefile
from gpudoctor.host.base import DEFAULT_PATH, Host
from gpudoctor.plugin import FixContext, FixFailed, Plan, Step, StepKind

if TYPE_CHECKING:
    from typing import Any

CTK_TIMEOUT = 20.0
NVIDIA_BINARY = "/usr/bin/nvidia-container-runtime"


def find_ctk(host: Host) -> str | None:
    return host.which("nvidia-ctk", None) or host.which(
        "nvidia-ctk", DEFAULT_PATH)


def ctk_entry(facts: Facts, runtime: str, config_path: str, table: tuple[str, ...],
              ctx: FixContext, plan: Plan) -> tuple[dict[str, Any] | None, Step | None]:
    """The `nvidia` runtime table nvidia-ctk would write (None: not asked; see plan.notes).

    `table` is where the runtimes live in nvidia-ctk's output (e.g. plugins, <cri>,
    containerd, runtimes). Only that entry is taken from its answer: the file gpudoctor writes
    is its own, atomically, after a backup.
    """
    from gpudoctor.fixes.docker_configure_nvidia_runtime import ctk_error

    ctk = find_ctk(facts.host)
    if ctk is None:
        plan.notes.append("nvidia-ctk is not installed: the entry is what `nvidia-ctk runtime "
                          f"configure --runtime={runtime}` writes by default")
        return None, None
    argv = [ctk, "runtime", "configure", f"--runtime={runtime}", f"--config={config_path}",
            "--dry-run"]
    if ctx.get("set_default_runtime"):
        argv.append("--set-as-default")
    result = facts.host.run(f"nvidia-ctk-runtime-configure-{runtime}-dry-run", argv, CTK_TIMEOUT)
    if result is None:
        plan.notes.append("nvidia-ctk's answer was not recorded in this root: the entry shown "
                          "is what it writes by default")
        return None, None
    if not result.ok:
        reason = "did not finish in time" if result.timed_out else ctk_error(
            result.stderr or result.stdout)
        plan.blocked = f"`nvidia-ctk runtime configure --runtime={runtime} --dry-run` failed: " \
                       f"{reason}"
        return None, None
    try:
        node: Any = tomllib.loads(result.stdout)
        for key in table:
            node = node[key]
        entry = node["nvidia"]
        if not isinstance(entry, dict):
            raise TypeError("the nvidia entry is not a table")
    except (tomllib.TOMLDecodeError, KeyError, TypeError) as exc:
        plan.blocked = f"nvidia-ctk's --dry-run output is not the expected TOML ({exc})"
        return None, None
    step = Step(kind=StepKind.COMMAND,
                description="asked nvidia-ctk (read-only, already run) for the "
                "runtime entry it would write; only that entry is taken from its answer",
                argv=argv)
    return entry, step


def to_tomlkit(value: Any) -> Any:
    """A plain dict as tomlkit tables (nested tables as [a.b] sections, not inline)."""
    import tomlkit

    if isinstance(value, dict):
        table = tomlkit.table()
        for key, item in value.items():
            table.add(key, to_tomlkit(item))
        return table
    return value


def add_import(text: str | None, pattern: str) -> str:
    """config.toml with `pattern` in its `imports`, everything else (comments too) kept."""
    import tomlkit

    doc = tomlkit.parse(text or "")
    imports = doc.get("imports")
    if imports is None:
        items = tomlkit.array()
        items.append(pattern)
        doc.add("imports", items)  # tomlkit puts a plain key before the first table
        return tomlkit.dumps(doc)
    if pattern not in [str(i) for i in imports]:
        imports.append(pattern)
    return tomlkit.dumps(doc)


def write_planned(plan: Plan, fix_id: str, ctx: FixContext, log: Callable[[str], None]
                  ) -> None:
    """Write each planned file atomically after a backup, refusing if it changed since."""
    for step in plan.steps:
        if step.kind != "write":
            continue
        current = safefile.read_current(step.path)
        if fixer.sha256(current) != plan.data.get("old_sha", {}).get(step.path):
            raise fixer.PlanOutdated(f"{step.path} changed since the plan was made")
        assert step.new_content is not None
        result = safefile.atomic_write(step.path, step.new_content, backup=True)
        fixer.record_write(ctx, fix_id, result, step.new_content)
        if result.backup:
            log(f"  kept the previous {step.path} as {result.backup}")
        log(f"  wrote {step.path} ({'created' if result.created else 'replaced atomically'})")


def roll_back(paths: list[str], ctx: FixContext, log: Callable[[str], None]) -> list[str]:
    """Put back the files of `paths` this run wrote (newest first); what was restored."""
    import os

    wanted = {os.path.realpath(p) for p in paths}
    restored = []
    for entry in reversed(ctx.written):
        if entry.path not in wanted or entry.restored:
            continue
        if fixer.sha256(safefile.read_current(entry.path)) != entry.sha:
            log(f"  {entry.path} changed again since it was written; left as it is")
            continue
        safefile.restore(entry.path, entry.backup)
        entry.restored = True
        restored.append(entry.path + (f" (from {entry.backup})" if entry.backup
                                          else " (removed; it did not exist before)"))
        log(f"  restored {restored[-1]}")
    return restored


def systemd_unit_of(host: Host, pid: int, unit: str) -> bool:
    """True when the process runs in `unit`'s cgroup (so `systemctl restart` restarts it)."""
    cgroup = host.read_attr(f"/proc/{pid}/cgroup") or ""
    return f"/{unit}.service" in cgroup


def restart_and_verify(plan: Plan, ctx: FixContext, log: Callable[[str], None], *,
                       unit: str, healthy: Callable[[], str | None], paths: list[str],
                       limit: float = 60.0, argv: list[str] | None = None) -> None:
    """`systemctl restart UNIT` (or `argv`), wait until `healthy()` returns None (else its
    problem); on failure put back the files this run wrote and restart again, then raise
    FixFailed."""
    argv = argv or ["systemctl", "restart", unit]
    fixer.run_command(argv, log, timeout=limit)
    problem = _wait(healthy, limit)
    if problem is None:
        log(f"  verified: {unit} is running with its new configuration")
        return
    log(f"  {unit} did not come back healthy: {problem}")
    restored = roll_back(paths, ctx, log)
    if not restored:
        raise FixFailed(f"{unit} is not healthy after the restart: {problem}")
    try:
        fixer.run_command(argv, log, timeout=limit)
    except FixFailed as exc:
        raise FixFailed(f"{unit} rejected the new configuration ({problem}); the previous files "
                        f"were restored but the second restart failed too: {exc}") from exc
    again = _wait(healthy, limit)
    state = "it runs its previous configuration" if again is None else \
        f"it is still not healthy ({again}); see `journalctl -u {unit}`"
    raise FixFailed(f"{unit} rejected the new configuration: {problem}. Restored "
                    f"{', '.join(restored)} and restarted it again: {state}")


def _wait(healthy: Callable[[], str | None], limit: float) -> str | None:
    deadline = time.monotonic() + limit
    problem = healthy()
    while problem is not None and time.monotonic() < deadline:
        time.sleep(0.5)
        problem = healthy()
    return problem


def run_quiet(argv: list[str], timeout: float = 20.0) -> tuple[bool, str]:
    """Run a read-only command on this machine; (ok, its last line of output)."""
    result = changes.execute(argv, timeout)
    text = (result.stderr or result.stdout).strip().splitlines()
    if result.missing:
        return False, f"`{argv[0]}` is not installed"
    if result.timed_out:
        return False, f"`{' '.join(argv)}` did not finish within {timeout:g} s"
    return result.returncode == 0, (text[-1] if text else "")
