"""The modal screens: the fix plan (confirm, apply, watch the output) and the docker run args."""

from __future__ import annotations

from collections.abc import Callable

from rich.console import Group, RenderableType
from rich.containers import Lines
from rich.padding import Padding
from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import (
    Horizontal,
    HorizontalScroll,
    ScrollableContainer,
    Vertical,
    VerticalScroll,
)
from textual.screen import ModalScreen
from textual.widgets import Button, Footer, Label, Log, Static

from gpudoctor import TYPE_CHECKING
from gpudoctor.tui.fixing import Proposal

if TYPE_CHECKING:
    from gpudoctor.fixer import ApplyResult


def plan_renderable(plain: str, coloured: str) -> RenderableType:
    """The plan as `gpudoctor fix` prints it, in its own colours. Lines are never wrapped: a
    command or diff line stays whole (pasteable), and the plan pane scrolls sideways."""
    lines = Text.from_ansi(coloured or plain).split("\n", allow_blank=True)
    if lines and not lines[-1].plain:
        lines = Lines(lines[:-1])
    parts: list[RenderableType] = []
    for line in lines:
        line.no_wrap = True
        line.overflow = "ignore"
        parts.append(line)
    return Group(*parts)


class FixScreen(ModalScreen[bool]):
    """Shows the plan exactly as `gpudoctor fix` prints it and asks before applying.

    Dismissed with True once the fixes were applied (or applying was tried and failed): the
    affected checks then re-run. False when cancelled or when they cannot be applied here.
    """

    BINDINGS = [
        Binding("y", "apply", "Apply", show=True),
        Binding("n", "cancel", "Cancel", show=True),
        Binding("escape", "close", "Close", show=True),
        Binding("c", "copy_command", "Copy sudo command", show=True),
    ]

    def __init__(self, proposal: Proposal, run_apply: Callable[[Callable[[str], None]],
                                                              ApplyResult], manual: str = ""):
        super().__init__()
        self.proposal = proposal
        #: what no fix here can mend, said before the plan ("fix everything" is not a cure)
        self.manual = manual
        self.run_apply = run_apply
        self.applying = False
        self.result: ApplyResult | None = None

    def compose(self) -> ComposeResult:
        p = self.proposal
        with Vertical(id="fix-dialog"):
            yield Label(p.title, id="fix-title")
            if self.manual:
                yield Static(self.manual, id="fix-manual", markup=False)
            with ScrollableContainer(id="fix-plan"):
                plan_text = Static(plan_renderable(p.text, p.coloured), id="fix-plan-text",
                                   markup=False)
                # As wide as its longest line, so nothing wraps and the pane scrolls sideways
                # (an auto width would stop at the pane's width).
                plan_text.styles.width = max((len(line) for line in p.text.splitlines()),
                                             default=1)
                yield plan_text
            if p.error:
                yield Static(p.error, id="fix-error", markup=False)
            elif p.cannot_apply:
                yield Static(self._cannot_apply_text(), id="fix-blocked", markup=False)
            elif not p.to_apply:
                yield Static("Nothing to apply: the host is already as these fixes would "
                             "leave it, or each one says above why it cannot run.",
                             id="fix-nothing", markup=False)
            yield Log(id="fix-output", highlight=False, auto_scroll=True)
            yield Static("", id="fix-result", markup=False)
            with Horizontal(id="fix-buttons"):
                if p.can_apply:
                    yield Button("Apply (y)", id="apply", variant="warning")
                    yield Button("Cancel (n)", id="cancel", variant="primary")
                else:
                    if p.sudo_command:
                        yield Button("Copy command (c)", id="copy")
                    yield Button("Close (esc)", id="cancel", variant="primary")
                yield Button("Close (esc)", id="close", variant="primary")
        yield Footer(show_command_palette=False)

    def _cannot_apply_text(self) -> str:
        reason = self.proposal.cannot_apply or ""
        command = self.proposal.sudo_command
        text = f"These fixes are shown but cannot be applied from here: {reason}"
        if command:
            text += f"\n\nRun this instead:\n  {command}"
        return text

    def on_mount(self) -> None:
        self.query_one("#fix-output", Log).display = False
        self.query_one("#fix-result", Static).display = False
        self.query_one("#close", Button).display = False
        # The plan has the focus, so arrows and Page Down scroll it at once; applying still
        # takes an explicit y or a click, and Enter does nothing here.
        self.query_one("#fix-plan", ScrollableContainer).focus()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """Keys that never apply to this plan are hidden; those that wait are greyed out."""
        done = self.result is not None
        if action == "apply":
            if not self.proposal.can_apply or done:
                return False
            return not self.applying or None
        if action == "cancel":
            if not self.proposal.can_apply or done:
                return False
            return not self.applying or None
        if action == "close":
            return not self.applying or None
        if action == "copy_command":
            return bool(self.proposal.sudo_command)
        return True

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        if event.button.id == "apply":
            self.action_apply()
        elif event.button.id == "copy":
            self.action_copy_command()
        else:
            self.action_cancel()

    def action_cancel(self) -> None:
        if self.applying:
            return
        self.dismiss(self.result is not None)

    def action_close(self) -> None:
        self.action_cancel()

    def action_copy_command(self) -> None:
        command = self.proposal.sudo_command
        if command:
            copy = getattr(self.app, "copy_text", None)
            if copy is not None:
                copy(command, "The command")
            else:
                self.app.copy_to_clipboard(command)

    def action_apply(self) -> None:
        if not self.proposal.can_apply or self.applying or self.result is not None:
            return
        self.applying = True
        output = self.query_one("#fix-output", Log)
        output.display = True
        output.write_line(f"$ gpudoctor fix --yes {self.proposal.fix_list}")
        for button in self.query(Button):
            button.disabled = True
        self.refresh_bindings()
        self._apply_worker()

    @work(thread=True, exit_on_error=False, group="apply")
    def _apply_worker(self) -> None:
        def log(line: str) -> None:
            for part in str(line).splitlines() or [""]:
                self.app.call_from_thread(self._write_output, part)

        result = self.run_apply(log)
        self.app.call_from_thread(self._finished, result)

    def _write_output(self, line: str) -> None:
        self.query_one("#fix-output", Log).write_line(line)

    def _finished(self, result: ApplyResult) -> None:
        self.applying = False
        self.result = result
        box = self.query_one("#fix-result", Static)
        box.update(result.describe() + " The affected checks run again when you close this.")
        box.set_class(result.ok, "-ok")
        box.set_class(not result.ok, "-failed")
        box.display = True
        for button in self.query(Button):
            button.display = button.id == "close"
        close = self.query_one("#close", Button)
        close.disabled = False
        close.focus()
        self.refresh_bindings()


class RunArgsScreen(ModalScreen[None]):
    """The `docker run` line and compose fragment for the selected GPUs, to copy apart, and
    what they wait for when the host is not ready."""

    BINDINGS = [
        Binding("c", "copy", "Copy run line", show=True),
        Binding("m", "copy_compose", "Copy compose", show=True),
        Binding("escape", "close", "Close", show=True),
        Binding("d", "close", "Close", show=False),
        Binding("q", "close", "Close", show=False),
    ]

    def __init__(self, command: str, compose_yaml: str, note: str = "", blocked: str = ""):
        super().__init__()
        self.command = command
        self.compose_yaml = compose_yaml
        self.note = note
        self.blocked = blocked

    @property
    def copy_text(self) -> str:
        """What c copies: the run line alone (pasting it runs it; the fragment is m)."""
        return self.command

    def compose(self) -> ComposeResult:
        with Vertical(id="args-dialog"):
            yield Label("docker run arguments for the selected GPUs", id="args-title")
            with VerticalScroll(id="args-body"):
                if self.command:
                    if self.blocked:
                        yield Static(self.blocked, id="args-blocked", markup=False)
                    # Never wrapped: the line scrolls sideways instead.
                    with HorizontalScroll(id="args-command-box"):
                        yield Static(Text(self.command, no_wrap=True, overflow="ignore"),
                                     id="args-command", markup=False)
                    yield Label("compose.yaml", classes="args-heading")
                    yield Static(self.compose_yaml.rstrip("\n"), id="args-compose", markup=False)
                if self.note:
                    yield Static(self.note, id="args-note", markup=False)
            with Horizontal(id="args-buttons"):
                if self.command:
                    yield Button("Copy run line (c)", id="copy")
                    yield Button("Copy compose (m)", id="copy-compose")
                yield Button("Close (esc)", id="close", variant="primary")
        yield Footer(show_command_palette=False)

    def on_mount(self) -> None:
        self.query_one("#close", Button).focus()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action in ("copy", "copy_compose"):
            return bool(self.command) or None
        return True

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        if event.button.id == "copy":
            self.action_copy()
        elif event.button.id == "copy-compose":
            self.action_copy_compose()
        else:
            self.action_close()

    def _copy(self, text: str, what: str) -> None:
        copy = getattr(self.app, "copy_text", None)
        if copy is not None:
            copy(text, what)
        else:
            self.app.copy_to_clipboard(text)

    def action_copy(self) -> None:
        if self.command:
            self._copy(self.command, "The docker run line")

    def action_copy_compose(self) -> None:
        if self.command:
            self._copy(self.compose_yaml, "The compose fragment")

    def action_close(self) -> None:
        self.dismiss(None)


#: The help screen: each key and each status, in a sentence.
HELP_KEYS = (
    ("↑ ↓", "move between checks; the pane below (or beside) shows what the check found"),
    ("enter", "move into the details to scroll them; esc comes back to the checks"),
    ("f", "show the plan of the highlighted check's fixes; y in the plan applies it"),
    ("a", "plan every fix the failing checks offer (what `sudo gpudoctor fix` would do)"),
    ("c", "copy the highlighted check's commands (OSC 52; also printed when you quit)"),
    ("d", "show the docker run line and compose fragment for the selected GPUs"),
    ("e", "paste an error message; gpudoctor says which cause it is, checked on this host"),
    ("r", "run every check again (after you changed something by hand)"),
    ("s", "start a short container with the GPUs (docker.smoke) to prove they work"),
    ("? F1", "this help; esc closes it"),
    ("q ctrl+c", "quit; the verdict and the run line stay on the terminal"),
)
HELP_STATUSES = (
    ("pass", "the check found nothing in the way"),
    ("warn", "something to know or tidy; containers still work"),
    ("fail", "this stops GPU containers until it is fixed"),
    ("skip", "the check does not apply here, or needs a check that did not pass"),
    ("error", "the check could not decide (a command or daemon did not answer)"),
)


class HelpScreen(ModalScreen[None]):
    """Every key and every status mark, each in one sentence."""

    BINDINGS = [
        Binding("escape", "close", "Close", show=True),
        Binding("question_mark", "close", "Close", show=False),
        Binding("f1", "close", "Close", show=False),
        Binding("q", "close", "Close", show=False),
    ]

    def compose(self) -> ComposeResult:
        from rich.table import Table

        from gpudoctor.tui.model import STATUS_WORDS, mark

        def table(rows: list[tuple[str, str]]) -> Table:
            grid = Table.grid(padding=(0, 2), expand=True)
            grid.add_column(no_wrap=True, style="bold")
            grid.add_column(ratio=1)
            for key, what in rows:
                grid.add_row(key, what)
            return grid

        with Vertical(id="help-dialog"):
            yield Label("gpudoctor: keys and marks", id="help-title")
            with VerticalScroll(id="help-body"):
                yield Static(Group(
                    Text("Keys", style="bold underline"),
                    Padding(table(list(HELP_KEYS)), (0, 0, 0, 2)),
                    Text(""),
                    Text("Status marks", style="bold underline"),
                    Padding(table([(f"{mark(status)} {STATUS_WORDS[status]}", what)
                                   for status, what in HELP_STATUSES]), (0, 0, 0, 2)),
                    Text(""),
                    Text("The header says whether the host is ready for GPU containers, and "
                         "what blocks it. `gpudoctor --help` lists the commands and exit codes; "
                         "docs/checks.md in the gpudoctor repository explains every check.")),
                    id="help-text", markup=False)
        yield Footer(show_command_palette=False)

    def on_mount(self) -> None:
        self.query_one("#help-body", VerticalScroll).focus()

    def action_close(self) -> None:
        self.dismiss(None)
