"""The interactive triage screen: see every check at once, drill in, fix with eyes open.

Every check starts at once (gpudoctor.runner runs each in its own daemon thread and calls back
per result), so the slowest check sets the wait, not the sum. Results come back to the UI as
messages, which Textual makes thread-safe. The check run is deliberately not a Textual thread
worker: the event loop joins its executor's threads on exit, so `q` would wait for a check that
hangs until its timeout; daemon threads end with the process. Fixes do run in a thread worker,
so quitting waits for a fix that is half-way through.
"""

from __future__ import annotations

import asyncio
import os
import threading
from collections.abc import Callable, Sequence

from textual import work
from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.message import Message
from textual.widgets import DataTable, Footer

from gpudoctor import TYPE_CHECKING
from gpudoctor.plugin import Check, Result
from gpudoctor.report import Doctor
from gpudoctor.report import exit_code as exit_code_of
from gpudoctor.runner import Outcome, failure_outcome, run_checks
from gpudoctor.tui import fixing
from gpudoctor.tui.model import (
    SMOKE_CHECK,
    FixOffer,
    HostSummary,
    Row,
    affected_checks,
    choose_theme,
    counts,
    fixable_ids,
    rows_for,
    summarize_host,
)
from gpudoctor.tui.screens import FixScreen, RunArgsScreen
from gpudoctor.tui.verdictmixin import VerdictActions
from gpudoctor.tui.widgets import AREA_PREFIX, ChecksTable, DetailPane, HostLine

if TYPE_CHECKING:
    from typing import Any

    from textual.timer import Timer

    from gpudoctor.fixer import ApplyResult

SPIN_INTERVAL = 0.1


class CheckFinished(Message):
    """One check's result arrived (posted from a check thread)."""

    def __init__(self, outcome: Outcome, generation: int):
        super().__init__()
        self.outcome = outcome
        self.generation = generation


class RunFinished(Message):
    """Every check of a run is decided; the outcomes are the runner's final word."""

    def __init__(self, outcomes: list[Outcome], host: HostSummary, generation: int):
        super().__init__()
        self.outcomes = outcomes
        self.host = host
        self.generation = generation


class RunFailed(Message):
    def __init__(self, error: str, generation: int):
        super().__init__()
        self.error = error
        self.generation = generation


class DoctorApp(VerdictActions, App[int]):
    """gpudoctor's TUI. The app's result and return code are the exit code of report.md."""

    CSS_PATH = "app.tcss"
    TITLE = "gpudoctor"
    HORIZONTAL_BREAKPOINTS = [(0, "-narrow"), (140, "-wide")]
    BINDINGS = [
        Binding("f", "fix", "Fix"),
        Binding("a", "fix_all", "Fix all"),
        Binding("r", "rerun", "Re-run"),
        # Short labels: every key must fit an 80-column footer (the help screen says more).
        Binding("d", "run_args", "Args"),
        Binding("c", "copy_command", "Copy"),
        Binding("e", "explain", "Explain"),
        Binding("s", "smoke", "Smoke"),
        Binding("question_mark", "help", "Help", key_display="?"),
        Binding("f1", "help", "Help", show=False),
        Binding("q", "quit", "Quit"),
        # People expect Ctrl-C to leave a terminal program; it quits like q (with the verdict).
        Binding("ctrl+c", "quit", "Quit", show=False, priority=True),
    ]

    def __init__(self, doctor: Doctor, theme: str | None = None,
                 fix_options: dict[str, Any] | None = None):
        super().__init__()
        self.doctor = doctor
        self.fix_options = dict(fix_options or {})
        self.rows: dict[str, Row] = {}
        self.host_summary: HostSummary | None = None
        self.running = False
        self.fixing = False
        self.generation = 0
        self.fixer_problem = fixing.fixer_available()
        self._idle = asyncio.Event()
        self._spinner: Timer | None = None
        self._initial_theme = theme or choose_theme(os.environ)
        #: the cursor goes to the first failure once, when the first run ends
        self._cursor_placed = False
        #: what was copied: printed on quit too, since a terminal may ignore OSC 52
        self.copied: list[str] = []

    # ----- layout ---------------------------------------------------------------------------
    def compose(self) -> ComposeResult:
        yield HostLine(id="host-line")
        with Vertical(id="main"):
            yield ChecksTable(id="checks")
            yield DetailPane(id="details")
        yield Footer(show_command_palette=False)

    def on_mount(self) -> None:
        known = self._initial_theme in self.available_themes
        self.theme = self._initial_theme if known else "textual-dark"
        if not known:
            self.notify(f"no theme named {self._initial_theme!r}; using textual-dark",
                        severity="warning")
        registry = self.doctor.load()
        for row in rows_for(registry.ordered_checks(include_opt_in=self.doctor.options.smoke)):
            self.rows[row.id] = row
        self.host_summary = HostSummary(where=self._where())
        self.relayout()
        self.query_one(ChecksTable).focus()
        self.start_run(None)

    def _where(self) -> str:
        host = self.doctor.host
        return "this host" if host.live else str(host.meta().get("root") or host.describe())

    @property
    def variables(self) -> dict[str, str]:
        return self.theme_variables

    @property
    def ordered_rows(self) -> list[Row]:
        return list(self.rows.values())

    def relayout(self) -> None:
        self.query_one(ChecksTable).show(self.ordered_rows, self.variables)
        self.show_header()
        self.show_details()

    def on_resize(self) -> None:
        self.call_after_refresh(self.relayout)

    def watch_theme(self) -> None:
        if self.is_mounted and self.rows:  # type: ignore[truthy-function]
            self.relayout()

    def show_header(self) -> None:
        self.query_one(HostLine).show(self.host_summary, counts(self.rows.values()),
                                      self.variables, self.verdict())

    @property
    def highlighted(self) -> Row | None:
        key = self.query_one(ChecksTable).highlighted_key
        return self.rows.get(key) if key else None

    def offers_for(self, row: Row) -> list[FixOffer]:
        fixes = self.doctor.load().fixes
        return [FixOffer(fid, fixes[fid].title if fid in fixes else fid, fid in fixes)
                for fid in row.fixes]

    def registered_fixes(self, row: Row) -> list[str]:
        """The row's fixes that this gpudoctor has (a check may name one not installed)."""
        fixes = self.doctor.load().fixes
        return [fid for fid in row.fixes if fid in fixes]

    def can_fix(self, row: Row | None) -> bool:
        return row is not None and row.fixable and bool(self.registered_fixes(row))

    def fixable_everywhere(self) -> list[str]:
        fixes = self.doctor.load().fixes
        return [fid for fid in fixable_ids(self.rows.values()) if fid in fixes]

    def show_details(self) -> None:
        row = self.highlighted
        problem = self.fixer_problem
        if problem is None and self.can_fix(row):
            assert row is not None
            problem = fixing.apply_problem(self.doctor, self.registered_fixes(row))
        self.query_one(DetailPane).show(row, self.offers_for(row) if row else [], problem,
                                        self.variables)

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        if str(event.row_key.value).startswith(AREA_PREFIX):
            return
        self.show_details()
        self.refresh_bindings()

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        self.action_focus_details()

    def action_focus_details(self) -> None:
        self.query_one(DetailPane).focus()

    def action_focus_checks(self) -> None:
        self.query_one(ChecksTable).focus()

    # ----- running checks ---------------------------------------------------------------------
    def start_run(self, ids: Sequence[str] | None, fresh: bool = True) -> None:
        """Run all default checks (ids None) or exactly these, each in its own thread."""
        registry = self.doctor.load()
        if ids is None:
            classes = registry.ordered_checks(include_opt_in=self.doctor.options.smoke)
            classes += [registry.checks[i] for i in self.rows
                        if i in registry.checks and registry.checks[i].opt_in
                        and registry.checks[i] not in classes]
        else:
            wanted = set(ids)
            classes = [c for c in registry.ordered_checks(include_opt_in=True) if c.id in wanted]
        if not classes:
            return
        added = False
        for cls in classes:
            row = self.rows.get(cls.id)
            if row is None:
                self.rows[cls.id] = Row(cls.id, cls.title, cls.area.value, opt_in=cls.opt_in)
                added = True
            else:
                row.outcome = None
        self.generation += 1
        self.running = True
        self._idle.clear()
        if added:
            self.relayout()
        else:
            table = self.query_one(ChecksTable)
            for cls in classes:
                table.update_row(self.rows[cls.id], self.variables)
            self.show_header()
            self.show_details()
        self.refresh_bindings()
        if self._spinner is None:
            self._spinner = self.set_interval(SPIN_INTERVAL, self._spin)
        threading.Thread(target=self._run_thread, daemon=True, name="gpudoctor-tui-run",
                         args=(classes, fresh, ids is None, self.generation)).start()

    def _run_thread(self, classes: list[type[Check]], fresh: bool, with_failures: bool,
                    generation: int) -> None:
        doctor = self.doctor
        try:
            registry = doctor.load()
            facts = doctor.fresh_facts() if fresh else (doctor.facts or doctor.fresh_facts())
            def finished(outcome: Outcome) -> None:
                self.post_message(CheckFinished(outcome, generation))

            outcomes = run_checks(classes, facts, sources=registry.sources, on_result=finished)
            if with_failures:
                outcomes += [failure_outcome(f) for f in registry.failures
                             if f.group == "gpudoctor.checks"]
            host = summarize_host(doctor)
        except Exception as exc:  # a UserError from a check, or a broken registry
            self.post_message(RunFailed(f"{type(exc).__name__}: {exc}", generation))
            return
        self.post_message(RunFinished(outcomes, host, generation))

    def _place(self, outcome: Outcome) -> bool:
        """Record an outcome; True when a new row had to be added (a failed plugin)."""
        row = self.rows.get(outcome.id)
        if row is None:
            self.rows[outcome.id] = Row(outcome.id, outcome.title, outcome.area, outcome)
            return True
        row.outcome = outcome
        return False

    def on_check_finished(self, message: CheckFinished) -> None:
        if message.generation != self.generation or not self.running:
            return  # a late answer from an earlier run, or after its timeout was reported
        row = self.rows.get(message.outcome.id)
        if row is None or row.outcome is not None:
            return
        row.outcome = message.outcome
        self.query_one(ChecksTable).update_row(row, self.variables)
        self.show_header()
        if self.highlighted is row:
            self.show_details()
            self.refresh_bindings()

    def on_run_finished(self, message: RunFinished) -> None:
        if message.generation != self.generation:
            return
        added = False
        for outcome in message.outcomes:
            added = self._place(outcome) or added
        self.host_summary = message.host
        self._sync_doctor()
        self._stop_running()
        if added:
            self.relayout()
        else:
            table = self.query_one(ChecksTable)
            for outcome in message.outcomes:
                table.update_row(self.rows[outcome.id], self.variables)
            self.show_header()
            self.show_details()
        self._place_cursor_on_first_problem()

    def on_run_failed(self, message: RunFailed) -> None:
        if message.generation != self.generation:
            return
        for row in self.rows.values():
            if row.outcome is None:
                row.outcome = Outcome(row.id, row.title, row.area,
                                      Result.error(f"not decided: {message.error}"))
        self._sync_doctor()
        self._stop_running()
        self.relayout()
        self.notify(message.error, title="The checks could not run", severity="error",
                    timeout=10)

    def _stop_running(self) -> None:
        self.running = False
        if self._spinner is not None:
            self._spinner.stop()
            self._spinner = None
        self.refresh_bindings()
        self._update_idle()

    def _update_idle(self) -> None:
        if not self.running and not self.fixing:
            self._idle.set()

    def _sync_doctor(self) -> None:
        """Keep the Doctor's outcomes current, so the fixer and the exit code see the rows."""
        self.doctor.outcomes = [r.outcome for r in self.rows.values() if r.outcome is not None]

    def _spin(self) -> None:
        self.query_one(ChecksTable).tick(self.ordered_rows, self.variables)

    async def wait_until_idle(self, timeout: float = 60.0) -> None:
        """Wait until no check runs and no fix is in progress (tests and snapshots use it)."""
        await asyncio.wait_for(self._idle.wait(), timeout)

    # ----- keys -------------------------------------------------------------------------------
    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """Keys that do not apply now stay in the footer, greyed out (None)."""
        busy = self.running or self.fixing
        if action == "fix":
            return (not busy and self.fixer_problem is None
                    and self.can_fix(self.highlighted)) or None
        if action == "fix_all":
            return (not busy and self.fixer_problem is None
                    and bool(self.fixable_everywhere())) or None
        if action == "rerun":
            return not busy or None
        if action == "smoke":
            return (not busy and SMOKE_CHECK in self.doctor.load().checks) or None
        if action == "run_args":
            return not self.fixing or None
        if action == "copy_command":
            row = self.highlighted
            return bool(row and row.outcome and row.outcome.result.commands) or None
        return True

    def action_rerun(self) -> None:
        if not (self.running or self.fixing):
            self.start_run(None)

    def action_smoke(self) -> None:
        if self.running or self.fixing or SMOKE_CHECK not in self.doctor.load().checks:
            return
        self.start_run([SMOKE_CHECK], fresh=False)

    def action_quit(self) -> None:  # type: ignore[override]
        code = self.exit_code()
        self.exit(code, return_code=code)

    def exit_code(self) -> int:
        outcomes = [r.outcome for r in self.rows.values() if r.outcome is not None]
        return exit_code_of(outcomes)

    # ----- fixes ------------------------------------------------------------------------------
    def action_fix(self) -> None:
        row = self.highlighted
        if row is None or not self.can_fix(row) or self.running or self.fixing:
            return
        self._begin_fix(self.registered_fixes(row), f"Fix: {row.title}")

    def action_fix_all(self) -> None:
        if self.running or self.fixing or not self.fixable_everywhere():
            return
        # None asks the fixer for its default, exactly what `gpudoctor fix` would plan.
        self._begin_fix(None, "Fix everything that can be fixed")

    def _begin_fix(self, fix_ids: list[str] | None, title: str) -> None:
        self.fixing = True
        self._idle.clear()
        self.refresh_bindings()
        self._fix_flow(fix_ids, title)

    @work(exclusive=True, group="fix", exit_on_error=False)
    async def _fix_flow(self, fix_ids: list[str] | None, title: str) -> None:
        """Plan (in a thread), show the plan and ask; the modal applies on yes."""
        applied = False
        planned: list[str] = list(fix_ids or self.fixable_everywhere())
        try:
            self.notify("Planning the fixes…", timeout=2)
            proposal = await asyncio.to_thread(fixing.propose, self.doctor, fix_ids, title,
                                               self.fix_options)
            planned = [p.fix_id for p in proposal.plans] or planned

            def run_apply(log: Callable[[str], None]) -> ApplyResult:  # in the modal's worker
                return fixing.apply(self.doctor, proposal, log, self.fix_options)

            self.clear_notifications()
            manual = self.manual_only() if fix_ids is None else []
            note = (f"Not fixed automatically, whatever you apply here: {', '.join(manual)} "
                    "(their details say what to do by hand)." if manual else "")
            applied = bool(await self.push_screen_wait(
                FixScreen(proposal, run_apply, note)))  # type: ignore[arg-type]
        finally:
            self.fixing = False
            self.refresh_bindings()
            self._update_idle()
        if applied:
            affected = affected_checks(planned, self.ordered_rows, self._requires())
            self.start_run(affected or None)

    def _requires(self) -> dict[str, tuple[str, ...]]:
        return {cid: tuple(cls.requires) for cid, cls in self.doctor.load().checks.items()}

    # ----- explain a pasted error -------------------------------------------------------------
    def action_explain(self) -> None:
        if not self.fixing:
            from gpudoctor.tui.explain import ExplainScreen

            self.push_screen(ExplainScreen(self.doctor))

    # ----- docker run arguments ---------------------------------------------------------------
    def action_run_args(self) -> None:
        if not self.fixing:
            self._run_args_flow()

    @work(exclusive=True, group="run-args", exit_on_error=False)
    async def _run_args_flow(self) -> None:
        command, compose, note = await asyncio.to_thread(self._run_args)
        verdict = self.verdict()
        blocked = verdict.works_once() if verdict is not None and command else ""
        if command and verdict is None:
            blocked = "Some checks are still running: whether these work is not known yet."
        await self.push_screen_wait(RunArgsScreen(command, compose, note, blocked))

    def _run_args(self) -> tuple[str, str, str]:
        """(docker run line, compose fragment, note) exactly as `gpudoctor devices` shows
        them, computed off the UI thread."""
        from gpudoctor.facts.runargs import compose_text, docker_run_line

        doctor = self.doctor
        try:
            args = list(doctor.report()["docker_run_args"])
        except Exception as exc:
            return "", "", f"The arguments could not be computed: {type(exc).__name__}: {exc}"
        if not args:
            return "", "", ("No GPU can be given to containers yet, so there are no arguments "
                            "to show. The failing checks say why.")
        note = ""
        if self.host_summary and self.host_summary.gpu_labels:
            note = "Selected: " + "; ".join(self.host_summary.gpu_labels)
        image = doctor.options.image or "IMAGE"
        return docker_run_line(args, image), compose_text(args, "app", image), note
