"""Entry-point discovery without importlib.metadata.

importlib.metadata costs ~35 ms of imports (email, zipfile, csv...) before a single check runs,
which alone is most of the `--json` start-up budget. The entry_points.txt format is small and
specified by PyPA (an INI file inside each *.dist-info / *.egg-info folder), so it is read here
directly from the folders on sys.path.
"""

from __future__ import annotations

import os
import sys

from gpudoctor.record import record


@record(frozen=True)
class EntryPoint:
    """One entry point of a distribution, as its entry_points.txt declares it."""

    name: str
    value: str  # "module:attr" or "module"
    group: str
    distribution: str

    @property
    def module(self) -> str:
        return self.value.partition(":")[0].strip()

    @property
    def attr(self) -> str | None:
        attr = self.value.partition(":")[2].split("[")[0].strip()
        return attr or None


def _dist_name(folder: str) -> str:
    stem = folder.rsplit(".", 1)[0]
    return stem.split("-")[0]


def _parse(text: str, wanted: set[str], dist: str) -> list[EntryPoint]:
    found: list[EntryPoint] = []
    group = None
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line[0] in "#;":
            continue
        if line.startswith("[") and line.endswith("]"):
            group = line[1:-1].strip()
            continue
        if group in wanted and "=" in line:
            name, _, value = line.partition("=")
            found.append(EntryPoint(name.strip(), value.strip(), group, dist))
    return found


def entry_points(groups: set[str], path: list[str] | None = None) -> list[EntryPoint]:
    """All entry points of the given groups from distributions on sys.path, first one wins."""
    seen: set[str] = set()
    found: list[EntryPoint] = []
    for base in path if path is not None else sys.path:
        try:
            names = os.listdir(base or ".")
        except OSError:
            continue
        for folder in sorted(names):
            if not folder.endswith((".dist-info", ".egg-info")):
                continue
            dist = _dist_name(folder)
            if dist in seen:
                continue
            seen.add(dist)
            try:
                with open(os.path.join(base or ".", folder, "entry_points.txt"),
                          encoding="utf-8") as fh:
                    text = fh.read()
            except OSError:
                continue
            if not any(f"[{g}]" in text for g in groups):
                continue
            found.extend(_parse(text, groups, dist))
    return found
