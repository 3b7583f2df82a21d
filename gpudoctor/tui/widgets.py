"""The main screen's widgets: the checks table, the detail pane and the header line."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text
from textual.binding import Binding
from textual.color import Color
from textual.containers import HorizontalScroll, VerticalScroll
from textual.coordinate import Coordinate
from textual.widgets import DataTable, Static

from gpudoctor import TYPE_CHECKING

if TYPE_CHECKING:
    from textual.app import ComposeResult
    from textual.widgets.data_table import ColumnKey

from gpudoctor.tui.model import (
    COMMANDS_HEADING,
    SPINNER,
    STATUS_THEME_VARIABLE,
    STATUS_WORDS,
    FixOffer,
    HostSummary,
    Row,
    detail_sections,
    group_by_area,
    header_parts,
    mark,
)
from gpudoctor.verdict import Verdict

AREA_PREFIX = "area:"
MARK_COLUMN, TITLE_COLUMN, SUMMARY_COLUMN = "mark", "title", "summary"
#: Detail sections shown as lists (one item per line); the others are paragraphs.
BULLETED = frozenset({"What was seen", "Fixes offered"})
#: The title column takes up to 42% of the width, never less than this.
MIN_TITLE = 24


def rich_colour(value: str | None) -> str:
    """A theme variable's colour as Rich spells it: ANSI themes say `ansi_green` (Rich:
    `green`); others may carry an alpha channel Rich cannot parse."""
    if not value:
        return ""
    if value.startswith("ansi_"):
        return value[len("ansi_"):]
    try:
        return Color.parse(value).hex6
    except Exception:
        return ""


def status_style(variables: Mapping[str, str], status: str | None) -> str:
    """A Rich style for a status from the current theme, so light and dark both read well."""
    if status is None:
        return rich_colour(variables.get("accent"))
    if status == "skip":
        return "dim"
    colour = rich_colour(variables.get(STATUS_THEME_VARIABLE.get(status, "")))
    return f"bold {colour}".strip()


def crop(text: str, width: int) -> str:
    text = " ".join(text.split())
    if width <= 0:
        return ""
    return text if len(text) <= width else text[: max(width - 1, 0)] + "…"


class ChecksTable(DataTable):
    """One row per check, keyed by check id, under a heading row per area.

    The cursor never rests on a heading: moving onto one carries on in the same direction.
    """

    # Enter is listed in the help screen (?); the footer keeps its room for the actions.
    BINDINGS = [Binding("enter", "select_cursor", "Details", show=False)]

    def __init__(self, **kwargs: object):
        super().__init__(cursor_type="row", show_header=False, zebra_stripes=False,
                         cell_padding=1, **kwargs)  # type: ignore[arg-type]
        self.headings: set[int] = set()
        self.spin = 0

    def validate_cursor_coordinate(self, value: Coordinate) -> Coordinate:
        value = super().validate_cursor_coordinate(value)
        if not self.headings or value.row not in self.headings or self.row_count == 0:
            return value
        step = 1 if value.row >= self.cursor_coordinate.row else -1
        for direction in (step, -step):
            row = value.row
            while 0 <= row < self.row_count and row in self.headings:
                row += direction
            if 0 <= row < self.row_count:
                return Coordinate(row, value.column)
        return value

    @property
    def highlighted_key(self) -> str | None:
        if self.row_count == 0 or self.cursor_row in self.headings:
            return None
        try:
            key = self.coordinate_to_cell_key(Coordinate(self.cursor_row, 0)).row_key
        except Exception:
            return None
        return str(key.value) if key.value is not None else None

    def widths(self, rows: Sequence[Row]) -> tuple[int, int]:
        """(title, summary) column widths that fill the table without a horizontal scroll."""
        # Three columns with one cell of padding each side, and the vertical scrollbar.
        text_width = (self.size.width or 80) - 1 - 6 - 2
        longest = max((len(r.title) for r in rows), default=10)
        title = min(longest, max(MIN_TITLE, int(text_width * 0.42)))
        return title, max(text_width - title, 10)

    def mark_cell(self, row: Row, variables: Mapping[str, str]) -> Text:
        status = row.status
        symbol = mark(status) if status else SPINNER[self.spin % len(SPINNER)]
        return Text(symbol, style=status_style(variables, status))

    def show(self, rows: Sequence[Row], variables: Mapping[str, str]) -> None:
        """Lay the rows out again (after rows were added or the size changed)."""
        keep = self.highlighted_key
        title_width, summary_width = self.widths(rows)
        self.clear(columns=True)
        self.add_column("", key=MARK_COLUMN, width=1)
        self.add_column("Check", key=TITLE_COLUMN, width=title_width)
        self.add_column("Result", key=SUMMARY_COLUMN, width=summary_width)
        self.headings = set()
        index = 0
        for area, members in group_by_area(rows):
            self.add_row("", Text(area, style="bold underline"), "", key=AREA_PREFIX + area)
            self.headings.add(index)
            index += 1
            for row in members:
                self.add_row(self.mark_cell(row, variables), crop(row.title, title_width),
                             self.summary_cell(row, summary_width), key=row.id)
                index += 1
        target = None
        if keep is not None:
            try:
                target = self.get_row_index(keep)
            except Exception:
                target = None
        if target is None:
            target = 1 if self.row_count > 1 else 0
        self.move_cursor(row=target, scroll=True)

    def on_resize(self) -> None:
        """The table's own size changed (the terminal, or the wide/narrow layout): lay the
        columns out for the new width. The app's resize comes before the table's new size is
        known, which left the columns at their old widths."""
        relayout = getattr(self.app, "relayout", None)
        if relayout is not None and self.row_count:
            self.call_after_refresh(relayout)

    def move_to(self, key: str) -> None:
        """Put the cursor on a check's row (the first failure, when the run ends)."""
        try:
            self.move_cursor(row=self.get_row_index(key), scroll=True)
        except Exception:
            pass

    def summary_cell(self, row: Row, width: int) -> Text:
        style = "dim" if row.status in (None, "skip") else ""
        return Text(crop(row.summary, width), style=style)

    def update_row(self, row: Row, variables: Mapping[str, str]) -> None:
        try:
            self.update_cell(row.id, MARK_COLUMN, self.mark_cell(row, variables))
            width = self.columns[self._column_key(SUMMARY_COLUMN)].width
            self.update_cell(row.id, SUMMARY_COLUMN, self.summary_cell(row, width))
        except Exception:  # the row is not laid out yet; the next show() draws it
            pass

    def _column_key(self, name: str) -> ColumnKey:
        for key in self.columns:
            if key.value == name:
                return key
        raise KeyError(name)

    def tick(self, rows: Sequence[Row], variables: Mapping[str, str]) -> None:
        """Advance the spinner of the rows still waiting for their result."""
        self.spin += 1
        for row in rows:
            if row.outcome is None:
                try:
                    self.update_cell(row.id, MARK_COLUMN, self.mark_cell(row, variables))
                except Exception:
                    pass


class DetailPane(VerticalScroll, can_focus=True):
    """Everything about the highlighted check: evidence, why it matters, what to do, fixes."""

    BINDINGS = [Binding("escape", "app.focus_checks", "Back to checks", show=True)]

    def compose(self) -> ComposeResult:
        yield Static("", id="detail-text", markup=False)
        # Commands are never wrapped or cut: their box scrolls sideways instead.
        with HorizontalScroll(id="detail-commands-box"):
            yield Static("", id="detail-commands", markup=False)
        yield Static("", id="detail-more", markup=False)

    def _section(self, heading: str, lines: Sequence[str]) -> list[RenderableType]:
        parts: list[RenderableType] = [Text(""), Text(heading, style="bold underline")]
        grid = Table.grid(padding=(0, 1), expand=True)
        grid.add_column(width=1)
        grid.add_column(ratio=1)
        bullet = "•" if heading in BULLETED else ""
        for line in lines:
            # fold, never "…": a path or URL is shown whole, over two lines if need be
            grid.add_row(bullet, Text(line, overflow="fold"))
        parts.append(grid)
        return parts

    def show(self, row: Row | None, offers: Sequence[FixOffer], apply_problem: str | None,
             variables: Mapping[str, str]) -> None:
        body = self.query_one("#detail-text", Static)
        commands = self.query_one("#detail-commands", Static)
        more = self.query_one("#detail-more", Static)
        box = self.query_one("#detail-commands-box")
        if row is None:
            body.update(Text("Move to a check to see what it found.", style="dim"))
            commands.update("")
            more.update("")
            box.display = False
            more.display = False
            return
        status = row.status
        head = Text()
        head.append(f"{mark(status) if status else SPINNER[0]} ",
                    style=status_style(variables, status))
        head.append(row.title, style="bold")
        head.append(f"  {row.id} · {STATUS_WORDS.get(status or '', 'running')}", style="dim")
        parts: list[RenderableType] = [head]
        after: list[RenderableType] = []
        command_lines: list[str] = []
        for heading, lines in detail_sections(row, offers, apply_problem):
            if heading == COMMANDS_HEADING:
                command_lines = list(lines)
                continue
            target = after if command_lines else parts
            if not heading:
                target.append(Text(""))
                target.extend(Text(line, overflow="fold") for line in lines)
                continue
            target.extend(self._section(heading, lines))
        body.update(Group(*parts))
        box.display = bool(command_lines)
        if command_lines:
            text = Text("\n", no_wrap=True, overflow="ignore")
            text.append(COMMANDS_HEADING, style="bold underline")
            for line in command_lines:
                text.append("\n  ")
                text.append(line, style="bold")
            commands.update(text)
        else:
            commands.update("")
        more.display = bool(after)
        more.update(Group(*after) if after else "")
        self.scroll_home(animate=False)
        box.scroll_home(animate=False)


class HostLine(Static):
    """Which host (or root), its GPUs, and the pass/warn/fail counts, in one line."""

    def on_resize(self) -> None:
        show = getattr(self.app, "show_header", None)
        if show is not None and getattr(self.app, "rows", None):
            self.call_after_refresh(show)

    def show(self, host: HostSummary | None, tally: Mapping[str, int],
             variables: Mapping[str, str], verdict: Verdict | None = None) -> None:
        width = self.size.width or 80
        text = Text(no_wrap=True, overflow="ellipsis")
        for piece, status in header_parts(host, tally, width, verdict):
            text.append(piece, style=status_style(variables, status) if status else "")
        self.update(text)
