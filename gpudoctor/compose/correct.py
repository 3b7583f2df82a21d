"""Applying a judge's edits to the compose tree, and showing them as a diff.

The tree is ruamel.yaml's round-trip tree, so comments, quoting and key order survive: the diff
shows only what gpudoctor changed. The person's file is written only when they ask (`--write`),
atomically and with a backup, like every file a fix changes.
"""

from __future__ import annotations

from gpudoctor import TYPE_CHECKING
from gpudoctor.compose.judge import ComposeFinding, Edit
from gpudoctor.compose.load import ComposeFile, dump, parse

if TYPE_CHECKING:
    from typing import Any


def _set_path(mapping: Any, keys: tuple[str, ...], value: Any) -> None:
    from ruamel.yaml.comments import CommentedMap

    for key in keys[:-1]:
        nxt = mapping.get(key)
        if not hasattr(nxt, "get"):
            nxt = CommentedMap()
            mapping[key] = nxt
        mapping = nxt
    mapping[keys[-1]] = value


def apply_edit(edit: Edit) -> None:
    parent = edit.parent
    if edit.op == "set":
        if isinstance(edit.key, tuple):
            _set_path(parent, edit.key, edit.value)
        else:
            parent[edit.key] = edit.value
    elif edit.op == "append":
        if edit.value not in parent:
            parent.append(edit.value)
    elif edit.op == "remove":
        if edit.value in parent:
            parent.remove(edit.value)
    elif edit.op == "delete":
        if edit.key in parent:
            del parent[edit.key]
    else:  # pragma: no cover - the judge only makes the four above
        raise ValueError(f"unknown edit {edit.op}")


def corrected_text(compose: ComposeFile, findings: list[ComposeFinding]) -> str:
    """The file with every finding's edits applied (removals last, so indexes stay valid)."""
    edits = [e for f in findings for e in f.edits]
    for edit in [e for e in edits if e.op not in ("remove", "delete")]:
        apply_edit(edit)
    for edit in [e for e in edits if e.op in ("remove", "delete")]:
        apply_edit(edit)
    text = dump(compose)
    parse(text, compose.path)  # the corrected file must itself be a compose file
    return text


def diff(compose: ComposeFile, new_text: str) -> str:
    from gpudoctor.host.safefile import unified_diff

    return unified_diff(compose.text, new_text, compose.path)
