"""The modal screens: the fix plan (confirm, apply, watch the output) and the docker run args."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from rich.console import Group, RenderableType
from rich.containers import Lines
from rich.padding import Padding
from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Button, Footer, Label, Log, Static

from gpudoctor.tui.fixing import Proposal

if TYPE_CHECKING:
    from gpudoctor.fixer import ApplyResult


def plan_renderable(plain: str, coloured: str) -> RenderableType:
    """The plan as `gpudoctor fix` prints it, in its own colours, with each line's indent kept
    on the lines it wraps to (a long command or URL stays readable at 80 columns)."""
    lines = Text.from_ansi(coloured or plain).split("\n", allow_blank=True)
    if lines and not lines[-1].plain:
        lines = Lines(lines[:-1])
    parts: list[RenderableType] = []
    for line in lines:
        indent = len(line.plain) - len(line.plain.lstrip(" "))
        body = line[indent:] if indent else line
        parts.append(Padding(body, (0, 0, 0, indent)) if indent else body)
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
                                                              ApplyResult]):
        super().__init__()
        self.proposal = proposal
        self.run_apply = run_apply
        self.applying = False
        self.result: ApplyResult | None = None

    def compose(self) -> ComposeResult:
        p = self.proposal
        with Vertical(id="fix-dialog"):
            yield Label(p.title, id="fix-title")
            with VerticalScroll(id="fix-plan"):
                yield Static(plan_renderable(p.text, p.coloured), id="fix-plan-text",
                             markup=False)
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
        # Safe default: Enter cancels; applying takes an explicit y or a click.
        self.query_one("#cancel", Button).focus()

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
            self.app.copy_to_clipboard(command)
            self.notify(f"Copied: {command}", title="Clipboard")

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
    """The `docker run` arguments and compose fragment for the selected GPUs, to copy."""

    BINDINGS = [
        Binding("c", "copy", "Copy", show=True),
        Binding("escape", "close", "Close", show=True),
        Binding("d", "close", "Close", show=False),
        Binding("q", "close", "Close", show=False),
    ]

    def __init__(self, command: str, compose_yaml: str, note: str = ""):
        super().__init__()
        self.command = command
        self.compose_yaml = compose_yaml
        self.note = note

    @property
    def copy_text(self) -> str:
        if not self.command:
            return ""
        return f"{self.command}\n\n# compose.yaml\n{self.compose_yaml}"

    def compose(self) -> ComposeResult:
        with Vertical(id="args-dialog"):
            yield Label("docker run arguments for the selected GPUs", id="args-title")
            with VerticalScroll(id="args-body"):
                if self.command:
                    yield Static(self.command, id="args-command", markup=False)
                    yield Label("compose.yaml", classes="args-heading")
                    yield Static(self.compose_yaml.rstrip("\n"), id="args-compose", markup=False)
                if self.note:
                    yield Static(self.note, id="args-note", markup=False)
            with Horizontal(id="args-buttons"):
                if self.command:
                    yield Button("Copy (c)", id="copy")
                yield Button("Close (esc)", id="close", variant="primary")
        yield Footer(show_command_palette=False)

    def on_mount(self) -> None:
        self.query_one("#close", Button).focus()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "copy":
            return bool(self.command) or None
        return True

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        if event.button.id == "copy":
            self.action_copy()
        else:
            self.action_close()

    def action_copy(self) -> None:
        if self.command:
            self.app.copy_to_clipboard(self.copy_text)
            self.notify("Copied the docker run line and the compose fragment (terminals that "
                        "allow OSC 52 clipboard access).", title="Clipboard")

    def action_close(self) -> None:
        self.dismiss(None)
