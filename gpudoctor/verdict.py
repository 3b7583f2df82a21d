"""The verdict: is the host ready for GPU containers, what blocks it, and the next command.

Every view says it the same way (the text report's last line, `gpudoctor devices`, the TUI's
header, run-args screen and the line left on the terminal after quitting), so it is computed
here from the report document alone, without Textual. report.md 1.1: `ready` is true when
nothing known stands between the selected GPUs and a container started with the run arguments;
`blocking` lists the failing check ids that make it false.
"""

from __future__ import annotations

import shlex
from collections.abc import Iterable, Mapping, Sequence

from gpudoctor import TYPE_CHECKING
from gpudoctor.record import field, record

if TYPE_CHECKING:
    from typing import Any

#: Checks whose failure does not stop a new container started with the run arguments: GPU
#: names for people (pci.ids), and containers that already exist (they need re-creating, a new
#: one is fine). Every other failing or undecided check blocks.
NOT_BLOCKING = frozenset({"pciids.fresh", "docker.containers"})
#: Statuses that block: a failure, and a check that could not decide (its verdict is unknown,
#: and a daemon that does not answer in time is no daemon a container can start on).
BLOCKING_STATUSES = ("fail", "error")


def blocking_checks(checks: Iterable[Mapping[str, Any]]) -> list[str]:
    """The ids of the report's checks that stand between the GPUs and a container."""
    return [c["id"] for c in checks
            if c.get("status") in BLOCKING_STATUSES and c["id"] not in NOT_BLOCKING]


def is_ready(run_args: Sequence[str], blocking: Sequence[str]) -> bool:
    """Ready: there are arguments to give, and nothing known blocks them."""
    return bool(run_args) and not blocking


def run_line(run_args: Sequence[str], image: str = "IMAGE", engine: str = "docker") -> str:
    """`docker run ARGS IMAGE`, shell-quoted (the same line `gpudoctor devices` prints); `podman
    run ...` where Podman is the engine in use."""
    return " ".join([engine, "run", *(shlex.quote(a) for a in run_args), image])


def fix_command(fix_ids: Sequence[str]) -> str:
    return "sudo gpudoctor fix " + " ".join(fix_ids) if fix_ids else ""


@record
class Verdict:
    """What state the host is in, in words, and what to do next."""

    ready: bool
    blocking: list[str]
    run_args: list[str]
    #: ids of checks that warn (cosmetic or advice: they never make the host "not ready")
    warnings: list[str] = field(default_factory=list)
    #: fix ids the blocking checks offer, in check order
    fixes: list[str] = field(default_factory=list)
    #: blocking checks that offer no automatic fix: the person follows their steps by hand
    manual: list[str] = field(default_factory=list)
    #: a blocking check's own first command, when no fix is offered (the next step by hand)
    manual_command: str = ""
    #: the engine the run line is for: the one in use (report 1.1 `engines`), else docker
    engine: str = "docker"

    @property
    def state(self) -> str:
        """`ready`, `ready-with-warnings`, `not-ready` or `no-gpu` (nothing to give)."""
        if self.ready:
            return "ready-with-warnings" if self.warnings else "ready"
        return "not-ready" if self.blocking else "no-gpu"

    @property
    def next_command(self) -> str:
        """The one command to run next: fix what can be fixed, else the first manual step,
        else (ready) the run line."""
        if self.ready:
            return run_line(self.run_args, engine=self.engine)
        if self.fixes:
            return fix_command(self.fixes)
        return self.manual_command

    def headline(self) -> str:
        """The verdict in words, without the command (the TUI header)."""
        if self.ready:
            if self.warnings:
                return (f"Ready for GPU containers ({_count(len(self.warnings), 'warning')} "
                        "that does not stop them)" if len(self.warnings) == 1 else
                        f"Ready for GPU containers ({_count(len(self.warnings), 'warning')} "
                        "that do not stop them)")
            return "Ready for GPU containers"
        if not self.blocking:
            return "Not ready: no GPU can be given to containers"
        return f"Not ready: blocked by {', '.join(self.blocking)}"

    def short(self) -> str:
        """The verdict in a few words, for a header line that must also fit the counts."""
        if self.ready:
            warned = _count(len(self.warnings), "warning")
            return f"Ready ({warned})" if self.warnings else "Ready"
        if not self.blocking:
            return "Not ready: no GPU"
        return f"Not ready ({len(self.blocking)} blocking)"

    def line(self) -> str:
        """The one line a report ends with: the state and the next command."""
        if self.ready:
            head = "Ready" if not self.warnings else (
                f"Ready ({_count(len(self.warnings), 'warning')}: "
                f"{', '.join(self.warnings)}; containers are not affected)")
            return f"{head}: {run_line(self.run_args, engine=self.engine)}"
        if not self.blocking:
            return "Not ready: no GPU can be given to containers (see the checks above)."
        text = f"Not ready: blocked by {', '.join(self.blocking)}."
        if self.fixes:
            # The command ends the line, so nothing after it is pasted with it.
            if self.manual:
                text += f" By hand (steps above): {', '.join(self.manual)}."
            text += f" Next: {fix_command(self.fixes)}"
        elif self.manual_command:
            text += f" Next, by hand ({self.manual[0]}): {self.manual_command}"
        else:
            text += f" Next, by hand: follow {', '.join(self.manual)} above."
        return text

    def works_once(self) -> str:
        """Said beside run arguments that will not work yet."""
        if self.ready:
            return ""
        if not self.blocking:
            return "These arguments do not give a container a GPU yet (see the checks)."
        return f"Works once these are fixed: {', '.join(self.blocking)}."


def _count(n: int, word: str) -> str:
    return f"{n} {word}" + ("" if n == 1 else "s")


def verdict_of(report: Mapping[str, Any]) -> Verdict:
    """The verdict of a report document (report.md, with the 1.1 fields or without)."""
    checks = list(report.get("checks", []))
    run_args = list(report.get("docker_run_args") or [])
    engine = "docker"
    per_engine = report.get("run_args") or {}
    used = [e.get("name") for e in report.get("engines") or [] if e.get("in_use")]
    if used and used[0] != "docker" and per_engine.get(used[0]):
        engine, run_args = str(used[0]), list(per_engine[used[0]])
    blocking = (list(report["blocking"]) if "blocking" in report
                else blocking_checks(checks))
    ready = bool(report["ready"]) if "ready" in report else is_ready(run_args, blocking)
    by_id = {c["id"]: c for c in checks}
    fixes: list[str] = []
    manual: list[str] = []
    manual_command = ""
    for cid in blocking:
        check = by_id.get(cid, {})
        offered = list(check.get("fixes") or [])
        # A check whose root cause is another blocking check is mended there.
        if check.get("cause") in blocking:
            continue
        if offered:
            fixes.extend(f for f in offered if f not in fixes)
        else:
            manual.append(cid)
            if not manual_command and check.get("commands"):
                manual_command = check["commands"][0]
    warnings = [c["id"] for c in checks if c.get("status") == "warn"]
    return Verdict(ready=ready, blocking=blocking, run_args=run_args, warnings=warnings,
                   fixes=fixes, manual=manual, manual_command=manual_command, engine=engine)
