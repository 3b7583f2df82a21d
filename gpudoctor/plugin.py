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
import re
from collections.abc import Callable, Iterable, Mapping

from gpudoctor import TYPE_CHECKING
from gpudoctor.record import field, fields, record

if TYPE_CHECKING:
    from typing import Any, ClassVar

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


@record
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
    Everything a result says is in the report; what checks share goes through facts.
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


@record
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


_FIELD = re.compile(r"\{([a-z_][a-z0-9_]*)\}")


def fill(template: str, values: Mapping[str, Any]) -> str:
    """`template` with each `{name}` replaced by `values[name]`.

    Only lower-case identifiers in braces are fields, so shell and Go-template text such as
    `{{json .Runtimes}}`, `${HOME}` or awk's `{print $1}` passes through unchanged. A field
    without a value raises KeyError: a typo in a table fails the check's tests, not silently."""
    return _FIELD.sub(lambda m: str(values[m.group(1)]), template)


@record(frozen=True)
class Say:
    """What a check says for one outcome, as templates with `{name}` fields (see `fill`).

    A row with a problem status (warn, fail, error) is a finding; a pass or skip row is the
    verdict when nothing was found. `fixes` and `commands` are offered with the finding."""

    status: Status
    summary: str
    details: str = ""
    remedy: str = ""
    fixes: tuple[str, ...] = ()
    commands: tuple[str, ...] = ()
    #: The finding's key when it is not the row's own: two wordings of one finding (a
    #: warning when unsure, a failure when certain) keep one stable finding id.
    finding: str = ""


class Sentences:
    """A check's sentence table: what it says, by finding key, apart from how it decides.

    The check decides with keys and values (`Findings.say("not_loaded", node=...)`); the
    words live here, one row per outcome, so docs, fleets and tests read finding ids
    (`<check id>.<key>`) from one place and a reworded sentence never changes a decision."""

    def __init__(self, check_id: str, rows: Mapping[str, Say]) -> None:
        self.check_id = check_id
        self.rows = dict(rows)

    def __getitem__(self, key: str) -> Say:
        return self.rows[key]

    def finding_id(self, key: str) -> str:
        return f"{self.check_id}.{self.rows[key].finding or key}"

    def finding_ids(self) -> list[str]:
        """The ids of the rows that are problems, in table order, each once."""
        ids = [self.finding_id(k) for k, row in self.rows.items() if row.status.is_problem]
        return list(dict.fromkeys(ids))

    def finding(self, key: str, values: Mapping[str, Any], status: Status | None = None,
                fixes: tuple[str, ...] | None = None,
                commands: tuple[str, ...] | None = None) -> Finding:
        """Row `key` filled with `values`. `status`, `fixes` and `commands` replace the row's
        where the same finding weighs differently on some hosts (a warning when another way
        works); they are still the check's decision, not new words."""
        row = self.rows[key]
        return Finding(status or row.status, fill(row.summary, values),
                       fill(row.details, values), fill(row.remedy, values),
                       tuple(row.fixes if fixes is None else fixes), self.finding_id(key),
                       tuple(fill(c, values) for c in (row.commands if commands is None
                                                       else commands)))


_RANK = {Status.FAIL: 0, Status.ERROR: 0, Status.WARN: 1, Status.PASS: 2, Status.SKIP: 3}


@record
class Findings:
    """Problems and evidence gathered by a check, merged worst first into one Result."""

    evidence: list[str] = field(default_factory=list)
    items: list[Finding] = field(default_factory=list)
    #: the check's sentence table, for `say` and `verdict`
    sentences: Sentences | None = None

    def say(self, key: str, /, *, status: Status | None = None,
            fixes: tuple[str, ...] | None = None, commands: tuple[str, ...] | None = None,
            **values: Any) -> None:
        """Add the finding `key` of the check's sentence table, filled with `values`."""
        if self.sentences is None:
            raise TypeError("Findings.say needs the check's sentence table (Check.findings())")
        self.items.append(self.sentences.finding(key, values, status, fixes, commands))

    def verdict(self, key: str, /, **values: Any) -> Result:
        """The merged findings, or, when there are none, the table's pass or skip row `key`."""
        if self.items:
            return self.result("", "")
        if self.sentences is None:
            raise TypeError("Findings.verdict needs the check's sentence table")
        row = self.sentences[key]
        return Result(row.status, fill(row.summary, values), details=fill(row.details, values),
                      evidence=self.evidence, remedy=fill(row.remedy, values))

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
        if not worst.status.is_problem:  # only notes that pass: each said, none a "problem"
            summary = "; ".join(f.summary for f in ordered)
        elif len(ordered) > 1:
            summary += f" (and {len(ordered) - 1} more problem{'s' if len(ordered) > 2 else ''})"
        return Result(worst.status, summary,
                      details="\n\n".join(_unique(f.details for f in ordered if f.details)),
                      evidence=self.evidence,
                      remedy="\n".join(_unique(f.remedy for f in ordered if f.remedy)),
                      fixes=_unique(x for f in ordered for x in f.fixes),
                      commands=_unique(c for f in ordered for c in f.commands),
                      findings=_unique(f.id for f in ordered if f.id))


def said_once(result: Result, shared: str) -> Result:
    """`result` with `shared`, the explanation that several rows end with, said once and last
    where findings merged (each finding alone says it within its own paragraph)."""
    if result.details.count(shared) > 1:
        parts = [p.replace(shared, "").strip() for p in result.details.split("\n\n")]
        result.details = "\n\n".join([*_unique(p for p in parts if p), shared])
    return result


def offered_fixes(results: Iterable[Result]) -> list[str]:
    """Fix ids offered by results with a problem (fail, warn, error), in order, each once.

    The one rule `gpudoctor fix` (no ids), the report and the TUI's "fix all" share."""
    return _unique(fix_id for result in results if result.status.is_problem
                   for fix_id in result.fixes)


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
    #: What the check says, by finding key (see Sentences); None for a plugin that writes
    #: its sentences inline.
    sentences: ClassVar[Sentences | None] = None

    def findings(self, evidence: list[str] | None = None) -> Findings:
        """An empty Findings bound to this check's sentence table."""
        return Findings(evidence=[] if evidence is None else evidence, sentences=self.sentences)

    def applies(self, facts: Facts) -> str | None:
        """None when the check applies to this host, else the reason it is skipped."""
        return None

    def run(self, facts: Facts) -> Result:  # pragma: no cover - abstract
        raise NotImplementedError


class StepKind(str, enum.Enum):
    """What a plan step does; a str so JSON and older comparisons (`kind == "write"`) work."""

    COMMAND = "command"
    WRITE = "write"
    SIGNAL = "signal"
    NOTE = "note"


class Outcome(str, enum.Enum):
    """What applying a plan turned out to do."""

    APPLIED = "applied"
    #: The host was already as the fix would leave it when it came to apply (nothing changed).
    UNCHANGED = "unchanged"


@record
class Step:
    """One thing a fix will do: run a command, or write a file (shown as a unified diff)."""

    kind: StepKind
    description: str
    argv: list[str] = field(default_factory=list)
    path: str = ""
    diff: str = ""
    new_content: bytes | None = None

    def __post_init__(self) -> None:
        self.kind = StepKind(self.kind)


@record
class Plan:
    """What a fix would change, computed without changing anything.

    The fields below `blocked` are what the fix engine and other fixes read; `data` is the
    fix's own payload from plan to apply, read by nobody else.
    """

    fix_id: str
    title: str
    steps: list[Step] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    interrupts_containers: bool = False
    #: Nothing to do: the host is already as the fix would leave it.
    noop: bool = False
    #: The fix cannot be applied here; the reason says why and what to do by hand.
    blocked: str = ""
    #: Why there is nothing to do (shown with a noop plan).
    reason: str = ""
    #: Made before a fix it depends on was applied: planned again just before applying.
    deferred: bool = False
    #: Fix ids this plan needs beside it (added when the person named no fixes).
    suggests: list[str] = field(default_factory=list)
    #: False when applying changes something other than this host (`install_root`).
    affects_host: bool = True
    #: daemon.json keys this plan changes (a later reload/restart waits for them).
    changed_keys: list[str] = field(default_factory=list)
    #: Set by apply: what applying turned out to do.
    outcome: Outcome | None = None
    data: dict[str, Any] = field(default_factory=dict)


#: Plan.data keys of the options-dict contract that are Plan fields now.
LEGACY_PLAN_KEYS = ("reason", "deferred", "suggests", "affects_host", "changed_keys", "outcome")


def adopt_legacy_keys(plan: Plan) -> None:
    """Move protocol keys a fix written for the old contract put in `data` into the fields.

    Transition only: a third-party fix that still sets `plan.data["reason"]` keeps working;
    new fixes set the fields."""
    for key in LEGACY_PLAN_KEYS:
        if key not in plan.data:
            continue
        value = plan.data.pop(key)
        if key == "outcome":
            plan.outcome = Outcome(value)
        elif key in ("suggests", "changed_keys"):
            setattr(plan, key, list(value))
        else:
            setattr(plan, key, value)


@record
class WrittenFile:
    """A file a fix wrote during this run, so a later fix (docker.reload) can put it back."""

    fix: str
    path: str
    backup: str | None
    created: bool
    sha: str | None
    restored: bool = False


@record
class FixOptions:
    """What the person asked for (command line or TUI). Third-party options go in `extra`."""

    #: path of an offline toolkit bundle (folder or release .tar.gz) for nvidia.install_toolkit
    bundle: str | None = None
    #: install the bundle's packages into this folder (`dpkg --root` / `rpm --root`), not `/`
    install_root: str | None = None
    #: where pciids.update downloads from, and the file it replaces
    pciids_url: str | None = None
    pciids_path: str | None = None
    pciids_max_bytes: int | None = None
    pciids_timeout: float | None = None
    #: docker.configure_nvidia_runtime also sets "default-runtime": "nvidia" / features.cdi
    set_default_runtime: bool = False
    enable_cdi: bool = False
    yes: bool = False
    dry_run: bool = False
    #: seconds to wait for another run's lock
    lock_wait: float | None = None
    #: seconds docker.reload waits for the daemon to show its new configuration
    verify_timeout: float | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_dict(cls, values: dict[str, Any] | None) -> FixOptions:
        """Known keys become fields, the rest go to `extra`."""
        known = {f for f in fields(cls) if f != "extra"}
        values = dict(values or {})
        opts = cls(**{k: v for k, v in values.items() if k in known})
        opts.extra = {k: v for k, v in values.items() if k not in known}
        return opts

    def get(self, key: str, default: Any = None) -> Any:
        """An option by name (a field, else `extra`), for fixes that look options up by key."""
        if key != "extra" and key in fields(self):
            value = getattr(self, key)
            return default if value is None else value
        return self.extra.get(key, default)


@record
class FixContext:
    """What a fix is given beside the facts: the person's options and this run's state."""

    options: FixOptions = field(default_factory=FixOptions)
    #: plans of the fixes ordered before this one in this run
    earlier_plans: dict[str, Plan] = field(default_factory=dict)
    #: files written by fixes so far in this run (shared by every fix of the run)
    written: list[WrittenFile] = field(default_factory=list)

    def earlier(self, fix_id: str) -> Plan | None:
        """The plan of a fix ordered before the one being planned, if it is part of this run."""
        return self.earlier_plans.get(fix_id)

    def get(self, key: str, default: Any = None) -> Any:
        return self.options.get(key, default)

    def after(self, earlier: dict[str, Plan]) -> FixContext:
        """The context for the next fix: same options and journal, these earlier plans."""
        return FixContext(self.options, dict(earlier), self.written)


class Fix:
    """Base class of fix plugins: `plan` is read-only, `apply` makes the planned change."""

    id: ClassVar[str] = ""
    title: ClassVar[str] = ""
    #: Fix ids that must run before this one when both are planned.
    after: ClassVar[tuple[str, ...]] = ()
    #: Position among fixes that do not depend on each other (lower first; ties by id).
    #: Built-ins use multiples of 10 so plugins can slot between them.
    order: ClassVar[int] = 1000

    def plan(self, facts: Facts, ctx: FixContext) -> Plan:  # pragma: no cover
        raise NotImplementedError

    def apply(self, plan: Plan, facts: Facts, ctx: FixContext,
              log: Callable[[str], None]) -> None:  # pragma: no cover
        """Make the change. `log(line)` streams progress. Raise FixFailed on failure."""
        raise NotImplementedError


class FixFailed(Exception):
    """A fix could not be applied; the host was left as it was before the failing step."""
