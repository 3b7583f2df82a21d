"""Editing daemon.json as text: change some keys, keep every other byte the person wrote.

json.dumps would re-sort nothing but still re-indent, re-space and re-escape the whole file.
This splices each new value into the original text at the span where it belongs, in the
file's own indent, then re-parses its own output: when that does not give exactly the
intended data with every key kept in order (duplicate keys, exotic layouts), it falls back
to a full re-serialisation in the detected indent. The text given has already been parsed.
"""

from __future__ import annotations

import json

from gpudoctor import TYPE_CHECKING

if TYPE_CHECKING:
    from typing import Any


class _Obj:
    """An object in the text: where its braces are and where each member's value is."""

    def __init__(self, open_at: int, close_at: int,
                 members: list[tuple[str, int, int, int]]):
        self.open_at = open_at
        self.close_at = close_at
        #: (key, key_start, value_start, value_end)
        self.members = members

    def find(self, key: str) -> tuple[str, int, int, int] | None:
        found = [m for m in self.members if m[0] == key]
        return found[-1] if found else None


def _skip_ws(text: str, i: int) -> int:
    while i < len(text) and text[i] in " \t\r\n":
        i += 1
    return i


def _string_end(text: str, i: int) -> int:
    """Index just after the string starting at text[i] == '"'."""
    i += 1
    while True:
        c = text[i]
        if c == "\\":
            i += 2
            continue
        if c == '"':
            return i + 1
        i += 1


def _value_end(text: str, i: int) -> int:
    c = text[i]
    if c == '"':
        return _string_end(text, i)
    if c in "{[":
        depth, j = 0, i
        while True:
            ch = text[j]
            if ch == '"':
                j = _string_end(text, j)
                continue
            if ch in "{[":
                depth += 1
            elif ch in "}]":
                depth -= 1
                if depth == 0:
                    return j + 1
            j += 1
    j = i
    while j < len(text) and text[j] not in ",}] \t\r\n":
        j += 1
    return j


def _scan_object(text: str, i: int) -> _Obj:
    assert text[i] == "{"
    members: list[Any] = []
    j = _skip_ws(text, i + 1)
    if text[j] == "}":
        return _Obj(i, j, members)
    while True:
        key_start = j
        key_end = _string_end(text, j)
        key = json.loads(text[key_start:key_end])
        j = _skip_ws(text, key_end)
        j = _skip_ws(text, j + 1)  # the colon
        value_start = j
        value_end = _value_end(text, j)
        members.append((key, key_start, value_start, value_end))
        j = _skip_ws(text, value_end)
        if text[j] == ",":
            j = _skip_ws(text, j + 1)
            continue
        return _Obj(i, j, members)


def detect_indent(text: str) -> str:
    """The person's indent unit: the leading whitespace of the first indented key line."""
    for line in text.splitlines():
        stripped = line.lstrip(" \t")
        if stripped.startswith('"') and len(stripped) < len(line):
            lead = line[: len(line) - len(stripped)]
            return "\t" if "\t" in lead else lead
    return "    "


def _line_indent(text: str, at: int) -> str:
    start = text.rfind("\n", 0, at) + 1
    lead = text[start:at]
    return lead if not lead.strip() else ""


def _render(value: Any, unit: str, base: str, compact: bool) -> str:
    if compact:
        return json.dumps(value, ensure_ascii=False, separators=(", ", ": "))
    rendered = json.dumps(value, ensure_ascii=False, indent=unit)
    return rendered.replace("\n", "\n" + base)


def _set_member(text: str, obj: _Obj, key: str, value: Any, unit: str) -> str:
    """Replace or add one member of an object, in the style of the surrounding text."""
    existing = obj.find(key)
    if existing is not None:
        _, key_start, value_start, value_end = existing
        base = _line_indent(text, key_start)
        compact = "\n" not in text[obj.open_at:obj.close_at]
        return text[:value_start] + _render(value, unit, base, compact) + text[value_end:]
    close_indent = _line_indent(text, obj.close_at)
    inner = text[obj.open_at + 1:obj.close_at]
    if not obj.members:
        compact = "\n" not in text
        if compact:
            member = f"{json.dumps(key)}: {_render(value, unit, '', True)}"
            return text[:obj.open_at] + "{" + member + "}" + text[obj.close_at + 1:]
        indent = close_indent + unit
        member = f"{json.dumps(key)}: {_render(value, unit, indent, False)}"
        return (text[:obj.open_at] + "{\n" + indent + member + "\n" + close_indent + "}"
                + text[obj.close_at + 1:])
    last_end = obj.members[-1][3]
    first_key = obj.members[0][1]
    if "\n" not in inner:
        member = f", {json.dumps(key)}: {_render(value, unit, '', True)}"
        return text[:last_end] + member + text[last_end:]
    indent = _line_indent(text, first_key) or close_indent + unit
    member = f",\n{indent}{json.dumps(key)}: {_render(value, unit, indent, False)}"
    return text[:last_end] + member + text[last_end:]


def set_path(text: str, keys: list[str], value: Any, unit: str) -> str:
    """Set data[keys[0]][keys[1]]... = value in JSON text, creating missing objects."""
    start = _skip_ws(text, 0)
    obj = _scan_object(text, start)
    for depth, key in enumerate(keys[:-1]):
        member = obj.find(key)
        if member is None:
            nested: Any = value
            for k in reversed(keys[depth + 1:]):
                nested = {k: nested}
            return _set_member(text, obj, key, nested, unit)
        value_start = member[2]
        if text[value_start] != "{":
            raise ValueError(f"`{'.'.join(keys[:depth + 1])}` is not an object")
        obj = _scan_object(text, value_start)
    return _set_member(text, obj, keys[-1], value, unit)


def _ordered_pairs(text: str) -> Any:
    return json.loads(text, object_pairs_hook=lambda items: list(items))


def merge_into(text: str | None, changes: list[tuple[list[str], Any]]) -> str:
    """The person's daemon.json text with `changes` applied and nothing else touched.

    Falls back to a full re-serialisation (in the detected indent) only when the splice does
    not reproduce the intended data exactly (duplicate keys, exotic layouts).
    """
    if text is None or not text.strip():
        data: dict[str, Any] = {}
        for keys, value in changes:
            _assign(data, keys, value)
        return json.dumps(data, indent=4, ensure_ascii=False) + "\n"
    unit = detect_indent(text)
    expected = json.loads(text)
    for keys, value in changes:
        _assign(expected, keys, value)
    spliced = text
    try:
        for keys, value in changes:
            spliced = set_path(spliced, keys, value, unit)
        if json.loads(spliced) == expected and _keys_kept(text, spliced):
            return spliced
    except (ValueError, IndexError, AssertionError):
        pass
    trailing = "\n" if text.endswith("\n") else ""
    return json.dumps(expected, indent=unit, ensure_ascii=False) + trailing


def _keys_kept(old: str, new: str) -> bool:
    """Every top-level key of the old text is still there, in the same order."""
    old_keys = [k for k, _ in _ordered_pairs(old)]
    new_keys = [k for k, _ in _ordered_pairs(new)]
    return new_keys[: len(old_keys)] == old_keys


def _assign(data: dict[str, Any], keys: list[str], value: Any) -> None:
    for key in keys[:-1]:
        nxt = data.get(key)
        if not isinstance(nxt, dict):
            nxt = {}
            data[key] = nxt
        data = nxt
    data[keys[-1]] = value
