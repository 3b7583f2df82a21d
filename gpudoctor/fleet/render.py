"""The fleet summary as text: causes first, because that is what a person acts on."""

from __future__ import annotations

from gpudoctor import TYPE_CHECKING

if TYPE_CHECKING:
    from typing import Any


SHOW_HOSTS = 8


def _hosts(names: list[str]) -> str:
    shown = ", ".join(names[:SHOW_HOSTS])
    more = len(names) - SHOW_HOSTS
    return shown + (f" and {more} more" if more > 0 else "")


def _spread(counts: dict[str, int]) -> str:
    return ", ".join(f"{value} ({n})" for value, n in counts.items())


def render(summary: dict[str, Any]) -> str:
    t = summary["totals"]
    out = [f"gpudoctor fleet: {t['hosts']} host(s): {t['ok']} without a failing check, "
           f"{t['failing']} failing, {t['unreadable']} unreadable, {t['missing']} missing"]
    failing = [c for c in summary["checks"] if c["fail"]]
    if failing:
        width = max(len(c["id"]) for c in failing)
        out += ["", "Failing checks (hosts):"]
        out += [f"  {c['id']:<{width}}  {c['fail']:>5}  {_hosts(c['failing_hosts'])}"
                for c in failing]
    if summary["causes"]:
        out += ["", "Causes, most hosts first:"]
        for n, cause in enumerate(summary["causes"], 1):
            label = cause["finding"] or cause["check"]
            out.append(f"  {n}. [{cause['count']} host(s)] {label}: {cause['summary']}")
            if cause["example"] != cause["summary"]:
                out.append(f"     e.g. {cause['example']}")
            out.append(f"     hosts: {_hosts(cause['hosts'])}")
            if cause["consequences"]:
                also = ", ".join(f"{k} ({v})" for k, v in cause["consequences"].items())
                out.append(f"     also failing because of it: {also}")
            for command in cause["commands"]:
                out.append(f"     run: {command}")
    if summary["unreadable"]:
        out += ["", "Unreadable reports:"]
        out += [f"  {u['source']}: {u['reason']}" for u in summary["unreadable"]]
    if summary["missing"]:
        out += ["", f"Missing reports ({len(summary['missing'])}): {_hosts(summary['missing'])}"]
    out += ["", "Versions (hosts):"]
    for key, counts in summary["versions"].items():
        out.append(f"  {key:<13}  {_spread(counts) or '-'}")
    return "\n".join(out) + "\n"
