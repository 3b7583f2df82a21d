"""What the TUI says about the whole host: the verdict, the first failure, copying commands,
the help screen and what stays on the terminal after quitting. A mixin of DoctorApp, kept apart
so app.py stays about running checks and fixes."""

# A mixin: the App attributes it uses come from DoctorApp, which mypy cannot see from here.
# mypy: disable-error-code="attr-defined"

from __future__ import annotations

from gpudoctor import TYPE_CHECKING
from gpudoctor.tui.model import farewell, verdict_for
from gpudoctor.tui.screens import HelpScreen
from gpudoctor.tui.widgets import ChecksTable
from gpudoctor.verdict import Verdict

if TYPE_CHECKING:
    from gpudoctor.tui.model import HostSummary, Row


class VerdictActions:
    """Mixed into DoctorApp (a textual App with `rows`, `running`, `host_summary`)."""

    rows: dict[str, Row]
    running: bool
    host_summary: HostSummary | None
    copied: list[str]
    _cursor_placed: bool

    def verdict(self) -> Verdict | None:
        """Ready or what blocks, once every check has answered (None while running)."""
        if self.running:
            return None
        return verdict_for(self.rows.values(), self.host_summary)

    def farewell(self) -> str:
        """Printed on the terminal after the TUI closes: the verdict, and what was copied."""
        text = farewell(self.verdict())
        if self.copied:
            text += "Copied in the TUI (printed here in case the terminal ignored it):\n"
            text += "".join(f"  {line}\n" for item in self.copied for line in item.splitlines())
        return text

    def _place_cursor_on_first_problem(self) -> None:
        if self._cursor_placed:
            return
        self._cursor_placed = True
        for wanted in (("fail", "error"), ("warn",)):
            for row in self.ordered_rows:
                if row.status in wanted:
                    self.query_one(ChecksTable).move_to(row.id)
                    self.show_details()
                    self.refresh_bindings()
                    return

    def action_help(self) -> None:
        if not isinstance(self.screen, HelpScreen):
            self.push_screen(HelpScreen())

    def copy_text(self, text: str, what: str) -> None:
        """Copy through OSC 52 and say honestly that it may not arrive; keep it for quit."""
        self.copy_to_clipboard(text)
        if text not in self.copied:
            self.copied.append(text)
        self.notify(f"{what} sent to the clipboard (OSC 52). Some terminals, and tmux without "
                    "`set -g set-clipboard on`, ignore it: it is also printed when you quit.",
                    title="Copy", timeout=6)

    def action_copy_command(self) -> None:
        row = self.highlighted
        if row is None or row.outcome is None or not row.outcome.result.commands:
            self.notify("This check has no command to copy.", severity="warning")
            return
        commands = list(row.outcome.result.commands)
        what = "The command" if len(commands) == 1 else f"The {len(commands)} commands"
        self.copy_text("\n".join(commands), what)

    def manual_only(self) -> list[str]:
        """Failing checks no fix of this gpudoctor mends (the person acts by hand)."""
        return [r.id for r in self.rows.values() if r.status == "fail"
                and not self.registered_fixes(r)]
