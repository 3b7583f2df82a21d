"""What the triage screen shows, computed without Textual.

The app (app.py) only lays these out. Keeping the wording, the grouping, the header line and the
compose fragment here means they can be read and tested as plain Python, and that the text the
TUI shows matches the text report (same marks, same area order).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

from gpudoctor import TYPE_CHECKING
from gpudoctor.plugin import offered_fixes
from gpudoctor.record import field, record
from gpudoctor.textreport import AREA_ORDER, MARKS, refer_to_commands
from gpudoctor.verdict import Verdict, run_line, verdict_of

if TYPE_CHECKING:
    from gpudoctor.plugin import Check
    from gpudoctor.report import Doctor
    from gpudoctor.runner import Outcome

#: Shown in a row's status column until its result arrives (braille spinner, 10 frames).
SPINNER = "⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏"
#: The status words of the detail pane, so a status reads without colour too.
STATUS_WORDS = {"pass": "passed", "warn": "warning", "fail": "failed", "skip": "skipped",
                "error": "could not be decided"}
#: Theme variables (light and dark themes both define them) for each status.
STATUS_THEME_VARIABLE = {"pass": "success", "warn": "warning", "fail": "error",
                         "skip": "text-muted", "error": "accent"}
SMOKE_CHECK = "docker.smoke"
#: The detail section whose lines are commands: shown whole, never wrapped (c copies them).
COMMANDS_HEADING = "Commands (c copies)"


def mark(status: str) -> str:
    """The flutter-doctor style mark of the text report: ✓ ! ✗ - ☠."""
    return MARKS.get(status, "?")


def area_key(area: str) -> int:
    return AREA_ORDER.index(area) if area in AREA_ORDER else len(AREA_ORDER)


@record
class Row:
    """One check on the screen: known from the registry before it has run."""

    id: str
    title: str
    area: str
    outcome: Outcome | None = None
    opt_in: bool = False

    @property
    def status(self) -> str | None:
        return self.outcome.result.status.value if self.outcome else None

    @property
    def summary(self) -> str:
        return self.outcome.result.summary if self.outcome else "checking…"

    @property
    def fixes(self) -> list[str]:
        return list(self.outcome.result.fixes) if self.outcome else []

    @property
    def fixable(self) -> bool:
        """A finished check that found a problem and offers at least one fix."""
        return bool(self.outcome and self.outcome.result.status.is_problem and self.fixes)


def rows_for(checks: Iterable[type[Check]]) -> list[Row]:
    """The rows in report order (area, then the registry's order inside an area)."""
    rows = [Row(c.id, c.title, c.area.value, opt_in=c.opt_in) for c in checks]
    return sorted(rows, key=lambda r: area_key(r.area))  # stable: keeps order inside an area


def group_by_area(rows: Sequence[Row]) -> list[tuple[str, list[Row]]]:
    groups: dict[str, list[Row]] = {}
    for row in rows:
        groups.setdefault(row.area, []).append(row)
    return sorted(groups.items(), key=lambda item: area_key(item[0]))


def counts(rows: Iterable[Row]) -> dict[str, int]:
    tally = dict.fromkeys(("pass", "warn", "fail", "skip", "error", "pending"), 0)
    for row in rows:
        tally[row.status or "pending"] += 1
    return tally


@record
class HostSummary:
    """The header's facts about the host, gathered in a worker thread (they read files)."""

    where: str
    gpus_found: int | None = None
    gpus_selected: int | None = None
    gpu_labels: list[str] = field(default_factory=list)
    #: the docker run arguments for the selected GPUs (report `docker_run_args`)
    run_args: list[str] = field(default_factory=list)


def summarize_host(doctor: Doctor) -> HostSummary:
    """Name the host (or root) and count its GPUs; never raises (a check reports the cause)."""
    host = doctor.host
    facts = doctor.facts or doctor.fresh_facts()
    if host.live:
        try:
            name = (host.read_optional("/proc/sys/kernel/hostname", 256) or "").strip()
        except Exception:
            name = ""
        where = f"this host ({name})" if name else "this host"
    else:
        where = str(host.meta().get("root") or host.describe())
    summary = HostSummary(where=where)
    try:
        gpus = [g for g in facts.gpus.gpus if g.vendor != "other"]
        summary.gpus_found = len(gpus)
        summary.gpus_selected = sum(1 for g in gpus if g.selected)
        summary.gpu_labels = [g.label for g in gpus if g.selected]
    except Exception:
        pass
    try:
        summary.run_args = list(facts.docker_run_args)
    except Exception:
        pass
    return summary


def verdict_for(rows: Iterable[Row], host: HostSummary | None) -> Verdict | None:
    """The verdict (ready, or what blocks) once every row has its result; None before."""
    rows = list(rows)
    if not rows or any(r.outcome is None for r in rows):
        return None
    report = {"checks": [r.outcome.to_report() for r in rows if r.outcome is not None],
              "docker_run_args": list(host.run_args) if host else []}
    return verdict_of(report)


def farewell(verdict: Verdict | None) -> str:
    """What stays on the terminal after quitting: the verdict line, and the run line or what
    blocks it (the TUI's screen is gone, the answer should not be)."""
    if verdict is None:
        return "gpudoctor: quit before every check had answered; run `gpudoctor check`.\n"
    lines = [f"gpudoctor: {verdict.line()}"]
    if not verdict.ready and verdict.run_args:
        lines.append(f"  {run_line(verdict.run_args, engine=verdict.engine)}")
        lines.append(f"  {verdict.works_once()}")
    return "\n".join(lines) + "\n"


def shorten_path(text: str, width: int) -> str:
    """Keep the end of a long path (the root's own name is what tells roots apart)."""
    if len(text) <= width:
        return text
    return "…" + text[-(width - 1):] if width > 1 else text[:width]


def header_parts(host: HostSummary | None, tally: Mapping[str, int],
                 width: int = 100,
                 verdict: Verdict | None = None) -> list[tuple[str, str | None]]:
    """The header line as (text, status-or-None) pieces, so the app can colour the counts.

    The verdict in words leads (marks alone do not say whether containers will work); the
    line fits `width`: the root's path gives way first (its end is kept).
    """
    rest: list[tuple[str, str | None]] = []
    lead: list[tuple[str, str | None]] = []
    if verdict is not None:
        state = "pass" if verdict.ready and not verdict.warnings else (
            "warn" if verdict.ready else "fail")
        lead = [(verdict.short(), state), ("  ·  ", None)]
    if host is not None and host.gpus_found is not None:
        gpu_text = f"{host.gpus_found} GPU{'s' if host.gpus_found != 1 else ''} found"
        if host.gpus_found:
            gpu_text += f", {host.gpus_selected} selected"
        rest.append(("  ·  " + gpu_text, None))
    rest.append(("  ·  ", None))
    for i, status in enumerate(("pass", "warn", "fail")):
        rest.append((("  " if i else "") + f"{mark(status)} {tally.get(status, 0)}", status))
    for status in ("error", "skip"):
        if tally.get(status):
            rest.append((f"  {mark(status)} {tally[status]}", status))
    pending = tally.get("pending", 0)
    if pending:
        rest.append((f"  checking {pending}…", None))
    used = sum(len(text) for text, _ in lead + rest)
    if lead and used + 12 > width and rest and "GPU" in rest[0][0]:
        # Narrow: the verdict and the counts matter more than the GPU count (the table has it).
        used -= len(rest[0][0])
        rest = rest[1:]
    where = shorten_path(host.where if host else "…", max(12, width - used))
    return [*lead, (where, None), *rest]


# ----- the detail pane -------------------------------------------------------------------------
@record
class FixOffer:
    id: str
    title: str
    registered: bool = True


def detail_sections(row: Row, offers: Sequence[FixOffer],
                    apply_problem: str | None) -> list[tuple[str, list[str]]]:
    """(heading, lines) of the detail pane: what was seen, why it matters, what to do, fixes."""
    if row.outcome is None:
        return [("", ["This check is still running; its result appears here when it arrives."])]
    result = row.outcome.result
    sections: list[tuple[str, list[str]]] = [("", [result.summary])]
    if result.evidence:
        sections.append(("What was seen", list(result.evidence)))
    if result.details:
        sections.append(("Why it matters", result.details.splitlines()))
    if result.remedy:
        # A long command is shown once, whole, under Commands; the prose points there.
        sections.append(("What to do", refer_to_commands(result.remedy,
                                                         list(result.commands)).splitlines()))
    if result.commands:
        sections.append((COMMANDS_HEADING, list(result.commands)))
    if offers:
        lines = []
        for offer in offers:
            known = "" if offer.registered else " (not installed in this gpudoctor)"
            lines.append(f"{offer.id}: {offer.title}{known}")
        if not row.fixable:
            lines.append("Nothing to fix now: the check does not report a problem.")
        elif apply_problem:
            lines.append(f"Press f to see the plan. {apply_problem}")
        else:
            lines.append("Press f to see the plan and apply it.")
        sections.append(("Fixes offered", lines))
    return sections


# ----- which checks a fix affects --------------------------------------------------------------
def affected_checks(fix_ids: Iterable[str], rows: Sequence[Row],
                    requires: Mapping[str, Sequence[str]]) -> list[str]:
    """Checks to re-run after fixes: those that offered them, and every check that needs one
    of those (a dependent was skipped because its requirement failed)."""
    wanted = set(fix_ids)
    chosen = {r.id for r in rows if wanted & set(r.fixes)}
    grew = True
    while grew:
        grew = False
        for check_id, needs in requires.items():
            if check_id not in chosen and chosen & set(needs):
                chosen.add(check_id)
                grew = True
    return [r.id for r in rows if r.id in chosen]


def fixable_ids(rows: Iterable[Row]) -> list[str]:
    """Every fix the problem checks offer, in row order, each once (plugin.offered_fixes)."""
    return offered_fixes(r.outcome.result for r in rows if r.outcome)


def parse_environment_flag(environ: Mapping[str, str]) -> str | None:
    """`light` or `dark` from COLORFGBG ("15;0": light text on black), which several terminals
    set; None when the terminal does not say."""
    value = environ.get("COLORFGBG", "")
    if not value:
        return None
    background = value.rsplit(";", 1)[-1]
    if not background.isdigit():
        return None
    return "light" if int(background) in (7, 15) else "dark"


def choose_theme(environ: Mapping[str, str]) -> str:
    """GPUDOCTOR_THEME (a Textual theme name) wins; else the terminal's background if known."""
    explicit = environ.get("GPUDOCTOR_THEME", "").strip()
    if explicit:
        return explicit
    return "textual-light" if parse_environment_flag(environ) == "light" else "textual-dark"
