"""Every known GPU-container error in a pasted text, from the one cause table.

The table (ERROR_RULES, shared with `verify`) is data: patterns, the cause, the checks that
confirm or rule it out, the fixes. A text can hold several errors (a whole `docker compose up`
log); each rule that matches is a candidate cause, in the order its first match appears. Lines
no rule matches are never guessed at.
"""

from __future__ import annotations

import re

from gpudoctor.record import record
from gpudoctor.verify.causes import ERROR_RULES, Cause

#: Pasted logs can be long; the person's error is in the first few hundred kilobytes.
MAX_TEXT = 512 * 1024
_ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


@record(frozen=True)
class Candidate:
    """One cause recognised in the text, and where (its offset, for ordering)."""

    cause: Cause
    offset: int


def clean(text: str) -> str:
    """The text as a person sees it: no colour codes, no carriage-return redraws (compose's
    progress lines), at most MAX_TEXT characters."""
    text = _ANSI.sub("", text[:MAX_TEXT])
    lines = [line.rsplit("\r", 1)[-1] for line in text.split("\n")]
    return "\n".join(lines)


def find_causes(text: str) -> list[Candidate]:
    """Each rule that matches somewhere in `text`, once, ordered by its first match; a line
    that a more specific row explains is not explained again by a general one."""
    text = clean(text)
    found: list[Candidate] = []
    lines: set[str] = set()
    for rule in ERROR_RULES:  # most specific first: a general row never repeats a line
        cause = rule.match(text)
        if cause is None or (cause.matched and cause.matched in lines):
            continue
        lines.add(cause.matched)
        offset = text.find(cause.matched) if cause.matched else 0
        found.append(Candidate(cause, offset if offset >= 0 else 0))
    found.sort(key=lambda c: c.offset)
    return found
