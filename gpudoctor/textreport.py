"""The doctor-style text report: checks grouped by area, one line each, problems counted.

Marks follow flutter doctor: [✓] pass, [!] warn, [✗] fail, [-] skip, [☠] the check itself
broke. Colour only on a terminal and never with NO_COLOR; ASCII marks where the output encoding
cannot carry the symbols.
"""

from __future__ import annotations

import os
import sys
import textwrap
from typing import Any, TextIO

MARKS = {"pass": "✓", "warn": "!", "fail": "✗", "skip": "-", "error": "☠"}
ASCII_MARKS = {"pass": "+", "warn": "!", "fail": "x", "skip": "-", "error": "E"}
COLOURS = {"pass": "32", "warn": "33", "fail": "31", "skip": "2", "error": "35"}
AREA_ORDER = ("Hardware", "Kernel", "Devices and permissions", "Container stack", "Other")


def use_colour(stream: TextIO, forced: bool | None = None) -> bool:
    if forced is not None:
        return forced
    if os.environ.get("NO_COLOR"):
        return False
    return hasattr(stream, "isatty") and stream.isatty()


def can_encode(stream: TextIO, text: str) -> bool:
    encoding = getattr(stream, "encoding", None) or "ascii"
    try:
        text.encode(encoding)
        return True
    except (UnicodeEncodeError, LookupError):
        return False


class Painter:
    def __init__(self, stream: TextIO, colour: bool | None = None):
        self.colour = use_colour(stream, colour)
        self.marks = MARKS if can_encode(stream, "".join(MARKS.values())) else ASCII_MARKS

    def paint(self, text: str, code: str) -> str:
        return f"\x1b[{code}m{text}\x1b[0m" if self.colour else text

    def mark(self, status: str) -> str:
        return self.paint(f"[{self.marks[status]}]", COLOURS[status])

    def bold(self, text: str) -> str:
        return self.paint(text, "1")


def _indent(text: str, prefix: str = "      ", width: int = 100,
            first: str | None = None) -> list[str]:
    """Wrap each paragraph under `prefix`; `first` replaces the prefix on a paragraph's first
    line (a bullet), so continuation lines line up under the text, not under another bullet."""
    lines: list[str] = []
    lead = first if first is not None else prefix
    for para in text.splitlines():
        if not para.strip():
            continue
        wrapped = textwrap.wrap(para, width=width - len(lead), break_long_words=False,
                                break_on_hyphens=False) or [""]
        lines.append(lead + wrapped[0])
        lines.extend(prefix + " " * (len(lead) - len(prefix)) + w for w in wrapped[1:])
    return lines


def render(report: dict[str, Any], verbose: bool = False, stream: TextIO | None = None,
           colour: bool | None = None) -> str:
    stream = stream or sys.stdout
    p = Painter(stream, colour)
    host = report["host"]
    out: list[str] = []
    where = host.get("root", "/")
    title = "gpudoctor report for this host" if where == "/" else f"gpudoctor report for {where}"
    out.append(p.bold(title))
    bits = [b for b in (host.get("os"), f"kernel {host['kernel']}" if host.get("kernel") else None)
            if b]
    snap = host.get("snapshot")
    if snap:
        bits.append(f"snapshot captured {snap.get('captured_at')} by {snap.get('captured_by')}")
    if bits:
        out.append("  " + ", ".join(bits))
    selected = [g for g in report["gpus"] if g["selected"]]
    if report["gpus"]:
        out.append(f"  GPUs: {len(report['gpus'])} found, {len(selected)} selected for containers")
    out.append("")
    by_area: dict[str, list[dict[str, Any]]] = {}
    for check in report["checks"]:
        by_area.setdefault(check.get("area", "Other"), []).append(check)
    for area in sorted(by_area, key=lambda a: AREA_ORDER.index(a) if a in AREA_ORDER else 99):
        out.append(p.bold(area))
        for check in by_area[area]:
            status = check["status"]
            out.append(f"  {p.mark(status)} {check['title']}: {check['summary']}")
            problem = status in ("warn", "fail", "error")
            if verbose:
                out.extend(_indent(check.get("details", "")))
                for line in check.get("evidence", []):
                    out.extend(_indent(line, first="      • "))
            if (problem or verbose) and check.get("remedy"):
                head, _, rest = check["remedy"].partition("\n")
                out.extend(_indent(head, first="      → "))
                out.extend(_indent(rest, prefix="        "))
            if problem and check.get("fixes"):
                out.extend(_indent("gpudoctor can fix this: sudo gpudoctor fix "
                                   + " ".join(check["fixes"])))
        out.append("")
    if report.get("docker_run_args"):
        out.append(p.bold("docker run arguments for the selected GPUs"))
        out.append("  " + " ".join(report["docker_run_args"]))
        out.append("")
    for engine, args in (report.get("run_args") or {}).items():
        if engine != "docker" and args:
            out.append(p.bold(f"{engine} run arguments for the selected GPUs"))
            out.append("  " + " ".join(args))
            out.append("")
    counts = report["summary"]
    problems = counts["fail"] + counts["error"]
    if problems == 0 and counts["warn"] == 0:
        out.append(p.paint("• No issues found!", COLOURS["pass"]))
    else:
        parts = []
        for key, label in (("fail", "failed"), ("error", "could not be decided"),
                           ("warn", "warned")):
            if counts[key]:
                parts.append(f"{counts[key]} {label}")
        out.append(f"! Doctor found problems: {', '.join(parts)} "
                   f"({counts['pass']} passed, {counts['skip']} skipped).")
        if not verbose:
            out.append("  Run with -v for what each check looked at.")
    return "\n".join(out) + "\n"
