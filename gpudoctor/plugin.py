"""What a check and a fix are.

A check is a small class: a stable id, a title, an area, when it applies, what it depends on,
and `run(facts) -> Result`. This follows kubeadm's Checker (one id per check), flutter doctor's
result states (a crashed check is its own state and the others still run) and sos's declarative
"applies when" attributes.

A fix is declared the same way; its behaviour is plan first (what would change, shown as
commands and diffs), then apply.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

if TYPE_CHECKING:
    from gpudoctor.facts import Facts


class Status(str, enum.Enum):
    PASS = "pass"
    WARN = "warn"
    FAIL = "fail"
    SKIP = "skip"
    ERROR = "error"

    @property
    def is_problem(self) -> bool:
        return self in (Status.WARN, Status.FAIL, Status.ERROR)


class Area(str, enum.Enum):
    """The groups of the text report and the TUI, in display order."""

    HARDWARE = "Hardware"
    KERNEL = "Kernel"
    DEVICES = "Devices and permissions"
    CONTAINER = "Container stack"
    OTHER = "Other"

    @property
    def order(self) -> int:
        return list(Area).index(self)


@dataclass
class Result:
    """What one check found.

    summary: the one line a person reads first.
    details: what was looked at and why it matters for containers.
    evidence: the exact things seen (file lines, sysfs values, command output), one per line.
    remedy: what to do, in prose; it may quote the commands.
    fixes: ids of fix plugins that would help.
    commands: the remedy's shell commands, each complete and pasteable (report 1.1
        `checks[].commands`); never wrapped or cut by a view.
    findings: stable ids of what the check found (`<check id>.<finding>`), worst first, so
        tests, `explain` and fleets decide on ids rather than on sentences.
    cause: the id of another check whose failure is the root cause of this one; the views
        say the cause once there and point to it here.
    data: structured extras for the JSON report and other checks.
    """

    status: Status
    summary: str
    details: str = ""
    evidence: list[str] = field(default_factory=list)
    remedy: str = ""
    fixes: list[str] = field(default_factory=list)
    commands: list[str] = field(default_factory=list)
    findings: list[str] = field(default_factory=list)
    cause: str | None = None
    data: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def passed(cls, summary: str, **kw: Any) -> Result:
        return cls(Status.PASS, summary, **kw)

    @classmethod
    def warn(cls, summary: str, **kw: Any) -> Result:
        return cls(Status.WARN, summary, **kw)

    @classmethod
    def fail(cls, summary: str, **kw: Any) -> Result:
        return cls(Status.FAIL, summary, **kw)

    @classmethod
    def skip(cls, summary: str, **kw: Any) -> Result:
        return cls(Status.SKIP, summary, **kw)

    @classmethod
    def error(cls, summary: str, **kw: Any) -> Result:
        return cls(Status.ERROR, summary, **kw)


@dataclass
class Finding:
    """One problem a check found; several are merged into one Result by `Findings.result`.

    `id` is stable (`<check id>.<what>`), e.g. `docker.nvidia_runtime.not_declared`.
    """

    status: Status
    summary: str
    details: str
    remedy: str = ""
    fixes: tuple[str, ...] = ()
    id: str = ""
    commands: tuple[str, ...] = ()


_RANK = {Status.FAIL: 0, Status.ERROR: 0, Status.WARN: 1, Status.PASS: 2, Status.SKIP: 3}


@dataclass
class Findings:
    """Problems and evidence gathered by a check, merged worst first into one Result."""

    evidence: list[str] = field(default_factory=list)
    items: list[Finding] = field(default_factory=list)

    def add(self, status: Status, summary: str, details: str, remedy: str = "",
            fixes: tuple[str, ...] = (), *, id: str = "",
            commands: tuple[str, ...] = ()) -> None:
        self.items.append(Finding(status, summary, details, remedy, tuple(fixes), id,
                                  tuple(commands)))

    def result(self, passed_summary: str, passed_details: str) -> Result:
        if not self.items:
            return Result.passed(passed_summary, details=passed_details, evidence=self.evidence)
        ordered = sorted(self.items, key=lambda f: _RANK[f.status])
        worst = ordered[0]
        summary = worst.summary
        if len(ordered) > 1:
            summary += f" (and {len(ordered) - 1} more problem{'s' if len(ordered) > 2 else ''})"
        return Result(worst.status, summary,
                      details="\n\n".join(f.details for f in ordered if f.details),
                      evidence=self.evidence,
                      remedy="\n".join(_unique(f.remedy for f in ordered if f.remedy)),
                      fixes=_unique(x for f in ordered for x in f.fixes),
                      commands=_unique(c for f in ordered for c in f.commands),
                      findings=[f.id for f in ordered if f.id])


def _unique(items: Any) -> list[str]:
    out: list[str] = []
    for item in items:
        if item not in out:
            out.append(item)
    return out


class Check:
    """Base class of check plugins. Subclasses set the class attributes and `run`."""

    id: ClassVar[str] = ""
    title: ClassVar[str] = ""
    area: ClassVar[Area] = Area.OTHER
    #: Position inside its area in the report (lower first; ties by id). Built-ins use
    #: multiples of 10 so plugins can slot between them.
    order: ClassVar[int] = 1000
    #: Ids of checks whose results this one needs: it is skipped when one of them fails,
    #: errors or is skipped.
    requires: ClassVar[tuple[str, ...]] = ()
    #: Runs only when asked for (e.g. the smoke test that starts a container).
    opt_in: ClassVar[bool] = False
    #: Seconds before the runner gives up on this check (None: the runner's default).
    timeout: ClassVar[float | None] = None

    def applies(self, facts: Facts) -> str | None:
        """None when the check applies to this host, else the reason it is skipped."""
        return None

    def run(self, facts: Facts) -> Result:  # pragma: no cover - abstract
        raise NotImplementedError


@dataclass
class Step:
    """One thing a fix will do: run a command, or write a file (shown as a unified diff)."""

    kind: str  # "command", "write", "signal", "note"
    description: str
    argv: list[str] = field(default_factory=list)
    path: str = ""
    diff: str = ""
    new_content: bytes | None = None


@dataclass
class Plan:
    """What a fix would change, computed without changing anything."""

    fix_id: str
    title: str
    steps: list[Step] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    interrupts_containers: bool = False
    needs_root: bool = True
    #: Nothing to do: the host is already as the fix would leave it.
    noop: bool = False
    #: The fix cannot be applied here; the reason says why and what to do by hand.
    blocked: str = ""
    data: dict[str, Any] = field(default_factory=dict)


class Fix:
    """Base class of fix plugins: `plan` is read-only, `apply` makes the planned change."""

    id: ClassVar[str] = ""
    title: ClassVar[str] = ""
    #: Fix ids that must run before this one when both are planned.
    after: ClassVar[tuple[str, ...]] = ()

    def plan(self, facts: Facts, options: dict[str, Any]) -> Plan:  # pragma: no cover
        raise NotImplementedError

    def apply(self, plan: Plan, facts: Facts, options: dict[str, Any],
              log: Any) -> None:  # pragma: no cover
        """Make the change. `log(line)` streams progress. Raise FixFailed on failure."""
        raise NotImplementedError


class FixFailed(Exception):
    """A fix could not be applied; the host was left as it was before the failing step."""
