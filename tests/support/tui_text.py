"""The TUI's header and detail pane as plain text, for tests to read what a person sees.

Built from the same parts the widgets render (gpudoctor.tui.model), less the styling.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from gpudoctor.tui.model import (
    STATUS_WORDS,
    FixOffer,
    HostSummary,
    Row,
    detail_sections,
    header_parts,
    mark,
)
from gpudoctor.verdict import Verdict


def header_text(host: HostSummary | None, tally: Mapping[str, int], width: int = 100,
                verdict: Verdict | None = None) -> str:
    return "".join(text for text, _ in header_parts(host, tally, width, verdict))


def detail_text(row: Row, offers: Sequence[FixOffer], apply_problem: str | None) -> str:
    """The detail pane as plain text (what the pane shows, less the styling)."""
    status = row.status
    head = f"{mark(status)} {row.title}" if status else f"… {row.title}"
    word = STATUS_WORDS.get(status or "", "running")
    out = [f"{head}  ({row.id}, {word})"]
    for heading, lines in detail_sections(row, offers, apply_problem):
        out.append("")
        if heading:
            out.append(heading)
            out.extend(f"  {line}" for line in lines)
        else:
            out.extend(lines)
    return "\n".join(out)
