"""Output that never crashes on the terminal's encoding.

With PYTHONIOENCODING=ascii, a latin-1 terminal or LANG=C, printing ✓, →, • or a GPU name
with an em dash raised UnicodeEncodeError (exit 3). gpudoctor's own marks already have ASCII
forms (textreport.ASCII_MARKS); everything else written to stdout and stderr goes through an
error handler that spells each glyph in ASCII, and anything unknown as its closest letters or
`?`, so the report is always printed whole.
"""

from __future__ import annotations

import codecs
import sys
import unicodedata

from gpudoctor import TYPE_CHECKING

if TYPE_CHECKING:
    from typing import TextIO

HANDLER = "gpudoctor-ascii"
#: Glyphs gpudoctor writes, and their ASCII spelling.
ASCII = {
    "✓": "+", "✗": "x", "☠": "E", "→": "->", "←": "<-", "•": "*", "…": "...", "—": "-",
    "–": "-", "·": "-", "×": "x", "‘": "'", "’": "'", "“": '"', "”": '"', "≥": ">=",
    "≤": "<=", "⠋": "-", "⠙": "\\", "⠹": "|", "⠸": "/", "⠼": "-", "⠴": "\\", "⠦": "|",
    "⠧": "/", "⠇": "-", "⠏": "\\", " ": " ", "↑": "^", "↓": "v",
}


def _ascii_for(char: str) -> str:
    if char in ASCII:
        return ASCII[char]
    plain = unicodedata.normalize("NFKD", char).encode("ascii", "ignore").decode("ascii")
    return plain or "?"


def _handler(error: UnicodeError) -> tuple[str, int]:
    if not isinstance(error, UnicodeEncodeError):
        raise error
    text = "".join(_ascii_for(c) for c in error.object[error.start:error.end])
    # The spelling must itself fit the encoding (it is ASCII, which every encoding carries).
    return text, error.end


def install(streams: tuple[TextIO, ...] | None = None) -> None:
    """Make stdout and stderr spell what their encoding cannot carry, instead of raising."""
    try:
        codecs.lookup_error(HANDLER)
    except LookupError:
        codecs.register_error(HANDLER, _handler)
    for stream in streams if streams is not None else (sys.stdout, sys.stderr):
        reconfigure = getattr(stream, "reconfigure", None)
        if reconfigure is None:
            continue
        try:
            "✓→•…—".encode(stream.encoding or "ascii")
            continue  # UTF-8 and friends: nothing to do
        except (UnicodeEncodeError, LookupError):
            pass
        try:
            reconfigure(errors=HANDLER)
        except (ValueError, OSError):
            pass
