"""The doctor-style text report: checks grouped by area, one line each, problems counted.

Marks follow flutter doctor: [✓] pass, [!] warn, [✗] fail, [-] skip, [☠] the check itself
broke. Colour only on a terminal and never with NO_COLOR; ASCII marks where the output encoding
cannot carry the symbols.
"""

from __future__ import annotations

import os
import sys
import textwrap

from gpudoctor import TYPE_CHECKING

if TYPE_CHECKING:
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


#: A quoted command longer than this is printed once, under Commands, not in the prose too.
LONG_COMMAND = 100
#: Stands in for a space inside a `quoted command` while wrapping, so it is never split.
_GLUE = "\x00"


def _glue_quoted(text: str) -> str:
    """Make each `backtick-quoted` span one word for textwrap (a quoted command stays whole)."""
    parts = text.split("`")
    return "`".join(part.replace(" ", _GLUE) if i % 2 else part for i, part in enumerate(parts))


def terminal_width(stream: TextIO | None = None, default: int = 100) -> int:
    """The terminal's width (COLUMNS wins, as shells set it); `default` without a terminal."""
    env = os.environ.get("COLUMNS", "")
    if env.isdigit() and int(env) > 0:
        return int(env)
    stream = stream or sys.stdout
    try:
        if stream.isatty():
            return os.get_terminal_size(stream.fileno()).columns
    except (AttributeError, OSError, ValueError):
        pass
    return default


def _indent(text: str, prefix: str = "      ", width: int = 100,
            first: str | None = None) -> list[str]:
    """Wrap each paragraph under `prefix`; `first` replaces the prefix on a paragraph's first
    line (a bullet), so continuation lines line up under the text, not under another bullet.
    A `quoted command` is never split: it moves to the next line whole, and runs past the
    width rather than break (the terminal scrolls; a pasted half-command would do harm)."""
    lines: list[str] = []
    lead = first if first is not None else prefix
    for para in text.splitlines():
        if not para.strip():
            continue
        keep = len(para) - len(para.lstrip(" "))  # an indented line (a file's content) keeps it
        wrapped = textwrap.wrap(_glue_quoted(para.strip()), width=max(width - len(lead) - keep,
                                                                      20),
                                break_long_words=False, break_on_hyphens=False) or [""]
        wrapped = [" " * keep + w.replace(_GLUE, " ") for w in wrapped]
        lines.append(lead + wrapped[0])
        lines.extend(prefix + " " * (len(lead) - len(prefix)) + w for w in wrapped[1:])
    return lines


def refer_to_commands(remedy: str, commands: list[str]) -> str:
    """The prose with each quoted command that is listed under Commands pointing there, so a
    long command is printed once, whole, on its own line."""
    for command in commands:
        if len(command) > LONG_COMMAND:
            remedy = remedy.replace(f"`{command}`", "(see Commands below)")
    return remedy


def gpu_counts(gpus: list[dict[str, Any]]) -> str:
    """"2 GPUs found, 1 selected for containers" counting compute GPUs only (report 1.1
    `kind`); display-only devices (a BMC's VGA) are named apart."""
    compute = [g for g in gpus if g.get("kind", "compute") == "compute"
               and g.get("vendor") != "other"]
    switches = sum(1 for g in gpus if g.get("kind") == "switch")
    others = len(gpus) - len(compute) - switches
    selected = sum(1 for g in compute if g.get("selected"))
    text = f"{len(compute)} GPU{'' if len(compute) == 1 else 's'} found"
    if compute:
        text += f", {selected} selected for containers"
    if others:
        text += (f" (and {others} display-only device{'' if others == 1 else 's'}, "
                 "such as a server's BMC VGA)")
    if switches:
        text += f"; {switches} NVSwitch{'' if switches == 1 else 'es'} (not GPUs)"
    return text


def render(report: dict[str, Any], verbose: bool = False, stream: TextIO | None = None,
           colour: bool | None = None, width: int | None = None) -> str:
    from gpudoctor.verdict import run_line, verdict_of

    stream = stream or sys.stdout
    width = width or terminal_width(stream)
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
    if report["gpus"]:
        out.append(f"  GPUs: {gpu_counts(report['gpus'])}")
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
                out.extend(_indent(check.get("details", ""), width=width))
                for line in check.get("evidence", []):
                    out.extend(_indent(line, first="      • ", width=width))
            if (problem or verbose) and check.get("remedy"):
                remedy = refer_to_commands(check["remedy"], check.get("commands") or [])
                head, _, rest = remedy.partition("\n")
                out.extend(_indent(head, first="      → ", width=width))
                out.extend(_indent(rest, prefix="        ", width=width))
            if (problem or verbose) and check.get("commands"):
                out.append("      Commands (each on one line, to paste as it is):")
                out.extend(f"        {command}" for command in check["commands"])
            if problem and check.get("fixes"):
                out.append("      gpudoctor can fix this:")
                out.append("        sudo gpudoctor fix " + " ".join(check["fixes"]))
        out.append("")
    verdict = verdict_of(report)
    if report.get("docker_run_args"):
        out.append(p.bold("docker run arguments for the selected GPUs"))
        out.append("  " + run_line(report["docker_run_args"]))
        if not verdict.ready:
            out.append("  " + verdict.works_once())
        out.append("")
    for engine, args in (report.get("run_args") or {}).items():
        if engine != "docker" and args:
            out.append(p.bold(f"{engine} run arguments for the selected GPUs"))
            out.append("  " + run_line(args, engine=engine))
            out.append("")
    counts = report["summary"]
    parts = []
    for key, label in (("fail", "failed"), ("error", "could not be decided"), ("warn", "warned"),
                       ("pass", "passed"), ("skip", "skipped")):
        if counts[key]:
            parts.append(f"{counts[key]} {label}")
    out.append("Checks: " + ", ".join(parts) + "."
               + ("" if verbose else " Run with -v for what each check looked at."))
    state = "pass" if verdict.ready and not verdict.warnings else (
        "warn" if verdict.ready else "fail")
    out.append(f"{p.mark(state)} {p.paint(verdict.line(), COLOURS[state])}")
    return "\n".join(out) + "\n"
