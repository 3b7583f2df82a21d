"""The TUI's way into `explain`: paste the error you got, see the same explanation.

A modal screen with a text area; ctrl+s (or the button) runs exactly what `gpudoctor explain`
runs, on a separate Doctor so the main screen's results stay as they are, off the UI thread.
"""

from __future__ import annotations

import asyncio
import io

from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Button, Footer, Label, Static, TextArea

from gpudoctor.report import Doctor

PROMPT = ("Paste the error you got (one line or a whole `docker compose up` log), then press "
          "ctrl+s. gpudoctor names each known cause in it and checks it on this host.")


def explain_text(doctor: Doctor, text: str) -> str:
    """What `gpudoctor explain TEXT` prints, without colour (also used by the tests)."""
    from gpudoctor.commands.explain import render_verdicts
    from gpudoctor.explain.judge import judge
    from gpudoctor.explain.text import find_causes
    from gpudoctor.textreport import Painter

    if not text.strip():
        return "Paste an error first."
    candidates = find_causes(text)
    if not candidates:
        return ("gpudoctor does not recognise an error it knows in this text, so it names no "
                "cause (it never guesses). The checks on the main screen are the full "
                "diagnosis.")
    verdicts = judge(doctor, candidates)
    return render_verdicts(verdicts, doctor.host.describe(), Painter(io.StringIO(), False))


class ExplainScreen(ModalScreen[None]):
    """Paste an error; see which known causes it names and what this host says of each."""

    BINDINGS = [
        Binding("ctrl+s", "explain", "Explain", show=True, priority=True),
        Binding("escape", "close", "Close", show=True),
    ]

    def __init__(self, doctor: Doctor):
        super().__init__()
        # A Doctor of its own: judging runs only some checks, and must not replace the main
        # screen's outcomes.
        self.doctor = Doctor(host=doctor.host, options=doctor.options, registry=doctor.registry)

    def compose(self) -> ComposeResult:
        with Vertical(id="explain-dialog"):
            yield Label("Explain an error", id="explain-title")
            yield Static(PROMPT, id="explain-prompt", markup=False)
            yield TextArea(id="explain-input", soft_wrap=True)
            with VerticalScroll(id="explain-body"):
                yield Static("", id="explain-result", markup=False)
            with Horizontal(id="explain-buttons"):
                yield Button("Explain (ctrl+s)", id="explain", variant="primary")
                yield Button("Close (esc)", id="close")
        yield Footer(show_command_palette=False)

    def on_mount(self) -> None:
        self.query_one("#explain-input", TextArea).focus()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        if event.button.id == "explain":
            self.action_explain()
        else:
            self.action_close()

    def action_explain(self) -> None:
        self._explain(self.query_one("#explain-input", TextArea).text)

    @work(exclusive=True, group="explain", exit_on_error=False)
    async def _explain(self, text: str) -> None:
        result = self.query_one("#explain-result", Static)
        result.update("Checking this host...")
        try:
            shown = await asyncio.to_thread(explain_text, self.doctor, text)
        except Exception as exc:
            shown = f"The explanation failed: {type(exc).__name__}: {exc}"
        result.update(shown)

    def action_close(self) -> None:
        self.dismiss(None)
