"""The daemon.json splice editor: any valid daemon.json keeps every key and value it had.

Property tests (hypothesis) over generated JSON objects written in several layouts; the
editor must give exactly the intended data, keep the person's top-level keys in order, and
leave the text untouched outside what changed where the splice applies.
"""

from __future__ import annotations

import json
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from gpudoctor.jsonsplice import detect_indent, merge_into

NVIDIA = {"args": [], "path": "nvidia-container-runtime"}

keys = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), min_size=1,
               max_size=12)
scalars = st.none() | st.booleans() | st.integers(-10**12, 10**12) | \
    st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=20)
values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=4)
                      | st.dictionaries(keys, inner, max_size=4), max_leaves=12)
documents = st.dictionaries(keys, values, max_size=8)
layouts = st.sampled_from([
    lambda d: json.dumps(d, indent=2) + "\n",
    lambda d: json.dumps(d, indent=4),
    lambda d: json.dumps(d, indent="\t") + "\n",
    lambda d: json.dumps(d),
    lambda d: json.dumps(d, indent=4, ensure_ascii=False) + "\n",
])


def _expected(doc: dict[str, Any], changes: list[tuple[list[str], Any]]) -> dict[str, Any]:
    out = json.loads(json.dumps(doc))
    for path, value in changes:
        node = out
        for key in path[:-1]:
            if not isinstance(node.get(key), dict):
                node[key] = {}
            node = node[key]
        node[path[-1]] = value
    return out


@settings(max_examples=150, deadline=None)
@given(doc=documents, layout=layouts, default=st.booleans(), cdi=st.booleans())
def test_every_key_and_value_is_kept(doc: dict[str, Any], layout: Any, default: bool,
                                     cdi: bool) -> None:
    text = layout(doc)
    changes: list[tuple[list[str], Any]] = [(["runtimes", "nvidia"], NVIDIA)]
    if default:
        changes.append((["default-runtime"], "nvidia"))
    if cdi:
        changes.append((["features", "cdi"], True))
    new = merge_into(text, changes)
    assert json.loads(new) == _expected(doc, changes)
    old_keys = list(json.loads(text, object_pairs_hook=lambda kv: [k for k, _ in kv]))
    new_keys = list(json.loads(new, object_pairs_hook=lambda kv: [k for k, _ in kv]))
    assert new_keys[: len(old_keys)] == old_keys


@settings(max_examples=100, deadline=None)
@given(doc=documents.filter(lambda d: "runtimes" not in d), layout=layouts)
def test_a_new_key_is_added_and_nothing_before_it_changes(doc: dict[str, Any],
                                                          layout: Any) -> None:
    text = layout(doc)
    new = merge_into(text, [(["runtimes", "nvidia"], NVIDIA)])
    assert json.loads(new) == {**json.loads(text), "runtimes": {"nvidia": NVIDIA}}
    if doc and text.rstrip().endswith("}"):
        body = text.rstrip()[:-1].rstrip()
        assert new.startswith(body)  # spliced: the person's bytes come first, unchanged


def test_the_files_own_indent_is_used() -> None:
    text = '{\n\t"log-level": "warn"\n}\n'
    new = merge_into(text, [(["runtimes", "nvidia"], NVIDIA)])
    assert detect_indent(text) == "\t"
    assert new.startswith('{\n\t"log-level": "warn",\n\t"runtimes": {\n\t\t"nvidia": {')


def test_an_empty_or_missing_file_becomes_a_fresh_document() -> None:
    for text in (None, "", "  \n"):
        assert json.loads(merge_into(text, [(["runtimes", "nvidia"], NVIDIA)])) == {
            "runtimes": {"nvidia": NVIDIA}}
