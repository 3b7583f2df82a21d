"""`--format nagios`: gpudoctor as a Nagios/Icinga check plugin.

The Monitoring Plugins guidelines: exit 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN, and one line
`SERVICE STATUS - text | perfdata`, each perfdata item
`'label'=value[UOM];[warn];[crit];[min];[max]`.
A failing check is CRITICAL (GPU containers do not work); a warning, or a check that could not
decide (`error`), is WARNING; gpudoctor unable to run at all (bad root, bad option, internal
error) is UNKNOWN, never CRITICAL, so a broken probe does not page as a broken host.
"""

from __future__ import annotations

from gpudoctor import TYPE_CHECKING
from gpudoctor.formats import gpu_counts, is_ready

if TYPE_CHECKING:
    from typing import Any

OK, WARNING, CRITICAL, UNKNOWN = 0, 1, 2, 3
NAMES = {OK: "OK", WARNING: "WARNING", CRITICAL: "CRITICAL", UNKNOWN: "UNKNOWN"}
MAX_SUMMARY = 160


def _clip(text: str) -> str:
    text = " ".join(text.split()).replace("|", "/")  # '|' starts the perfdata
    return text if len(text) <= MAX_SUMMARY else text[:MAX_SUMMARY - 3] + "..."


def status_of(report: dict[str, Any]) -> int:
    statuses = [c.get("status") for c in report.get("checks") or []]
    if "fail" in statuses:
        return CRITICAL
    if "warn" in statuses or "error" in statuses:
        return WARNING
    return OK


def perfdata(report: dict[str, Any]) -> str:
    summary = report.get("summary") or {}
    total = len(report.get("checks") or [])
    found, selected = gpu_counts(report)
    items = [
        f"fail={summary.get('fail', 0)};;0;0;{total}",
        f"warn={summary.get('warn', 0)};0;;0;{total}",
        f"error={summary.get('error', 0)};0;;0;{total}",
        f"pass={summary.get('pass', 0)};;;0;{total}",
        f"skip={summary.get('skip', 0)};;;0;{total}",
        f"gpus_found={found};;;0",
        f"gpus_selected={selected};;;0",
        f"ready={1 if is_ready(report) else 0};;;0;1",
    ]
    return " ".join(items)


def render(report: dict[str, Any]) -> tuple[int, str]:
    """(exit code, the one status line with performance data)."""
    code = status_of(report)
    checks = report.get("checks") or []
    if code == OK:
        found, selected = gpu_counts(report)
        text = (f"{len(checks)} checks, none failed; {selected} of {found} GPU(s) "
                "selected for containers")
    else:
        worst = "fail" if code == CRITICAL else None
        bad = [c for c in checks if c.get("status") == worst] if worst else [
            c for c in checks if c.get("status") in ("warn", "error")]
        word = {"fail": "failed"}.get(worst or "", "warned or could not decide")
        first = bad[0]
        text = (f"{len(bad)} of {len(checks)} checks {word}: "
                + ", ".join(str(c.get("id")) for c in bad)
                + f"; {first.get('id')}: {_clip(str(first.get('summary') or ''))}")
    return code, f"GPUDOCTOR {NAMES[code]} - {text} | {perfdata(report)}"


def unknown(message: str) -> str:
    """The line for a run that could not produce a report."""
    return f"GPUDOCTOR UNKNOWN - {_clip(message)}"
