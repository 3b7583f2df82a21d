"""Reading a compose file with the line and column of every value.

ruamel.yaml's round-trip loader gives each mapping and sequence its positions (`.lc`) and keeps
comments and layout when the tree is written back, which a corrected file must. It is imported
here only, so no other command pays for it.
"""

from __future__ import annotations

import io
import itertools

from gpudoctor import TYPE_CHECKING
from gpudoctor.errors import UserError
from gpudoctor.record import record

if TYPE_CHECKING:
    from typing import Any

#: Compose files are small; a bigger file is not a compose file.
MAX_BYTES = 4 * 1024 * 1024


@record
class ComposeFile:
    """A compose file as read: its text and the round-trip tree."""

    path: str
    text: str
    tree: Any  # ruamel CommentedMap
    #: the file's own indentation (mapping indent, sequence indent, dash offset), kept on write
    indent: tuple[int, int, int] = (2, 4, 2)

    @property
    def services(self) -> dict[str, Any]:
        services: Any = self.tree.get("services") if hasattr(self.tree, "get") else None
        return dict(services) if hasattr(services, "items") else {}


def yaml(indent: tuple[int, int, int] = (2, 4, 2)) -> Any:
    """A round-trip YAML instance that keeps quotes, comments and the file's indentation."""
    from ruamel.yaml import YAML

    y = YAML(typ="rt")
    y.preserve_quotes = True
    y.width = 4096
    y.indent(mapping=indent[0], sequence=indent[1], offset=indent[2])
    return y


def guess_indent(text: str) -> tuple[int, int, int]:
    """The indentation the file uses (mapping step, sequence step, dash offset), read from the
    first nested mapping and the first block sequence, so a corrected file changes only the
    corrected lines."""
    mapping = sequence = offset = None
    lines = [ln for ln in text.splitlines() if ln.strip() and not ln.lstrip().startswith("#")]
    for above, below in itertools.pairwise(lines):
        if not above.rstrip().endswith(":") or above.lstrip().startswith("- "):
            continue
        col_above = len(above) - len(above.lstrip())
        col_below = len(below) - len(below.lstrip())
        if below.lstrip().startswith("- ") and offset is None and col_below >= col_above:
            offset = col_below - col_above
            rest = below.lstrip()[1:]
            sequence = offset + 1 + (len(rest) - len(rest.lstrip()))
        elif col_below > col_above and mapping is None:
            mapping = col_below - col_above
    mapping = mapping or 2
    if offset is None:
        return (mapping, mapping + 2, mapping)
    return (mapping, max(sequence or 2, offset + 2), offset)


def read(path: str) -> ComposeFile:
    """Read and parse `path`; a clear UserError (exit 2) for anything that is not a compose file."""
    import os
    import stat

    try:
        st = os.stat(path)
    except OSError as exc:
        raise UserError(f"{path}: cannot read the compose file: {exc.strerror or exc}") from exc
    if not stat.S_ISREG(st.st_mode):
        raise UserError(f"{path}: not a regular file")
    if st.st_size > MAX_BYTES:
        raise UserError(f"{path}: {st.st_size} bytes is too big for a compose file")
    try:
        with open(path, "rb") as handle:
            data = handle.read(MAX_BYTES + 1)
    except OSError as exc:
        raise UserError(f"{path}: cannot read the compose file: {exc.strerror or exc}") from exc
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise UserError(f"{path}: not UTF-8 text (byte {exc.start})") from exc
    return parse(text, path)


def parse(text: str, path: str = "compose.yaml") -> ComposeFile:
    from ruamel.yaml.error import MarkedYAMLError, YAMLError

    indent = guess_indent(text)
    try:
        tree = yaml(indent).load(io.StringIO(text))
    except MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else "somewhere"
        raise UserError(f"{path}: {where}: not valid YAML: {exc.problem or exc}") from exc
    except YAMLError as exc:
        raise UserError(f"{path}: not valid YAML: {exc}") from exc
    if not hasattr(tree, "get"):
        raise UserError(f"{path}: line 1, column 1: the top level is not a mapping, so this "
                        "is not a compose file")
    services = tree.get("services")
    if services is None or not hasattr(services, "items"):
        raise UserError(f"{path}: no `services:` mapping, so this is not a compose file")
    return ComposeFile(path=path, text=text, tree=tree, indent=indent)


def position(parent: Any, key: Any) -> tuple[int, int]:
    """1-based line and column of `parent[key]`'s value (or of the key when the value has none)."""
    lc = getattr(parent, "lc", None)
    if lc is None:
        return (0, 0)
    try:
        if isinstance(key, int):
            line, col = lc.item(key)
        else:
            line, col = lc.value(key)
    except (KeyError, IndexError, TypeError):
        try:
            line, col = lc.key(key)
        except (KeyError, IndexError, TypeError):
            line, col = lc.line, lc.col
    return (line + 1, col + 1)


def key_position(parent: Any, key: Any) -> tuple[int, int]:
    """1-based line and column of a mapping key."""
    lc = getattr(parent, "lc", None)
    if lc is None:
        return (0, 0)
    try:
        line, col = lc.key(key)
    except (KeyError, TypeError):
        line, col = lc.line, lc.col
    return (line + 1, col + 1)


def dump(compose: ComposeFile) -> str:
    out = io.StringIO()
    yaml(compose.indent).dump(compose.tree, out)
    return out.getvalue()
