"""TOML read with the standard parser and edited with tomlkit, never by hand.

The toolkit's config.toml is read by gpudoctor's facts and edited by a fix; both go through
here. Reading uses `tomllib` (Python 3.11+) or its backport `tomli` (Python 3.10), editing
uses `tomlkit`, which keeps every comment, blank line and key order of the person's file.
Both are imported lazily: `gpudoctor --json` reads config.toml only on NVIDIA hosts.
"""

from __future__ import annotations

import sys

from gpudoctor import TYPE_CHECKING

if TYPE_CHECKING:
    from typing import Any


class TomlError(ValueError):
    """The text is not valid TOML; the message names the line and column."""


def loads(text: str) -> dict[str, Any]:
    """Parse TOML text; raise TomlError with the parser's own message."""
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # Python 3.10: the same parser, as a package
        import tomli as tomllib
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise TomlError(str(exc)) from exc


def problem(text: str) -> str | None:
    """None when the text parses as TOML, else the parser's message."""
    try:
        loads(text)
    except TomlError as exc:
        return str(exc)
    return None


def get(doc: dict[str, Any], table: str, key: str) -> Any:
    """doc[table][key], or None when either is missing or the table is not a table."""
    section = doc.get(table)
    return section.get(key) if isinstance(section, dict) else None


def set_key(text: str, table: str, key: str, value: Any) -> str:
    """The text with `key = value` in `[table]`; everything else stays as it was written.

    An existing key is changed in place; a missing table is added at the end. Raises
    TomlError when the text does not parse (a file that cannot be parsed is never rewritten).
    """
    import tomlkit
    from tomlkit.exceptions import ParseError

    try:
        doc = tomlkit.parse(text)
    except ParseError as exc:
        raise TomlError(str(exc)) from exc
    section = doc.get(table)
    if section is None:
        section = tomlkit.table()
        doc.add(table, section)
    elif not isinstance(section, dict):
        raise TomlError(f"`{table}` is not a table")
    section[key] = value
    return tomlkit.dumps(doc)
