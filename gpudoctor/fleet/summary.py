"""Grouping many reports: which checks fail on how many hosts, and for which cause.

Two hosts fail for the same cause when the same check fails with the same first finding id
and the same summary once host-specific values (PCI addresses, versions, numbers, UUIDs,
paths under /dev) are abstracted. A failing check whose `cause` points to another failing
check on that host is counted under that root cause, as a consequence, not as a cause of
its own: one broken driver is one line, not three.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable
from datetime import datetime, timezone
from functools import lru_cache

from gpudoctor import TYPE_CHECKING, __version__
from gpudoctor.fleet import SCHEMA_ID
from gpudoctor.fleet.reader import Loaded, Unreadable
from gpudoctor.record import field, record

if TYPE_CHECKING:
    from typing import Any

STATUSES = ("pass", "warn", "fail", "skip", "error")
VERSION_KEYS = ("gpudoctor", "nvidia_driver", "amdgpu", "toolkit", "docker")
UNKNOWN = "unknown"

_ABSTRACT = [
    (re.compile(r"\b[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b", re.I),
     "<uuid>"),
    (re.compile(r"\b(?:[0-9a-f]{4}:)?[0-9a-f]{2}:[0-9a-f]{2}\.[0-7]\b", re.I), "<pci>"),
    (re.compile(r"\b0x[0-9a-f]+\b", re.I), "<hex>"),
    (re.compile(r"\b\d+(?:\.\d+)+(?:[-~+][\w.]+)?\b"), "<version>"),
    (re.compile(r"\d+"), "<n>"),
]
_REPEATS = re.compile(r"(<\w+>)(?:, \1)+(?:, \.\.\.)?")


@lru_cache(maxsize=65536)
def abstract(summary: str) -> str:
    """A summary with host-specific values replaced, so equal causes compare equal."""
    text = summary
    for pattern, token in _ABSTRACT:
        text = pattern.sub(token, text)
    return _REPEATS.sub(r"\1, ...", text)


@record
class Cause:
    check: str
    finding: str | None
    summary: str
    hosts: list[str] = field(default_factory=list)
    consequences: Counter = field(default_factory=Counter)
    example: str = ""
    commands: list[str] = field(default_factory=list)

    def to_doc(self) -> dict[str, Any]:
        return {"check": self.check, "finding": self.finding, "summary": self.summary,
                "example": self.example, "count": len(self.hosts), "hosts": self.hosts,
                "consequences": dict(sorted(self.consequences.items())),
                "commands": self.commands}


def _host_entry(loaded: Loaded) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    by_status: dict[str, list[str]] = {s: [] for s in ("fail", "warn", "error")}
    failing = []
    for check in loaded.report["checks"]:
        status = check.get("status")
        if status in by_status:
            by_status[status].append(check["id"])
        if status == "fail":
            failing.append(check)
    ready = loaded.report.get("ready")
    host = loaded.report.get("host")
    hostname = host.get("hostname") if isinstance(host, dict) else None
    entry = {"host": loaded.host, "hostname": str(hostname) if hostname else None,
             "source": loaded.source,
             "ready": ready if isinstance(ready, bool) else not failing,
             "fail": by_status["fail"], "warn": by_status["warn"], "error": by_status["error"]}
    return entry, failing


def _versions(report: dict[str, Any]) -> dict[str, str]:
    raw = report.get("versions")
    seen: dict[str, Any] = raw if isinstance(raw, dict) else {}
    out = {"gpudoctor": str(report.get("gpudoctor_version") or UNKNOWN)}
    for key in VERSION_KEYS[1:]:
        value = seen.get(key)
        out[key] = str(value) if value else UNKNOWN
    return out


def _unique(name: str, taken: set[str]) -> str:
    if name not in taken:
        return name
    n = 2
    while f"{name}#{n}" in taken:
        n += 1
    return f"{name}#{n}"


def summarize(items: Iterable[Loaded | Unreadable], expected: list[str] | None = None,
              now: datetime | None = None) -> dict[str, Any]:
    """The `gpudoctor.fleet/1` summary of every report read."""
    hosts: list[dict[str, Any]] = []
    unreadable: list[dict[str, str]] = []
    checks: dict[str, dict[str, Any]] = {}
    causes: dict[tuple[str, str | None, str], Cause] = {}
    versions: dict[str, Counter] = {key: Counter() for key in VERSION_KEYS}
    taken: set[str] = set()
    for item in items:
        name = _unique(item.host, taken)
        taken.add(name)
        if isinstance(item, Unreadable):
            unreadable.append({"host": name, "source": item.source, "reason": item.reason})
            continue
        item.host = name
        entry, failing = _host_entry(item)
        hosts.append(entry)
        for key, value in _versions(item.report).items():
            versions[key][value] += 1
        for check in item.report["checks"]:
            row = checks.get(check["id"])
            if row is None:
                row = checks[check["id"]] = {"id": check["id"], "title": check.get("title", ""),
                                             **dict.fromkeys(STATUSES, 0), "failing_hosts": []}
            status = check.get("status")
            if status in STATUSES:
                row[status] += 1
            if status == "fail":
                row["failing_hosts"].append(name)
        failing_ids = {c["id"] for c in failing}
        for check in failing:
            root = check.get("cause")
            if root and root != check["id"] and root in failing_ids:
                continue  # counted under its root cause below
            findings = check.get("findings") or []
            finding = findings[0] if findings else None
            summary = str(check.get("summary") or "")
            group = (check["id"], finding, abstract(summary))
            cause = causes.get(group)
            if cause is None:
                cause = causes[group] = Cause(check["id"], finding, group[2], example=summary,
                                              commands=list(check.get("commands") or []))
            cause.hosts.append(name)
            for other in failing:
                if other.get("cause") == check["id"] and other["id"] != check["id"]:
                    cause.consequences[other["id"]] += 1
    missing = [h for h in (expected or []) if h not in taken]
    failing_hosts = sum(1 for h in hosts if h["fail"])
    ordered_causes = sorted(causes.values(), key=lambda c: (-len(c.hosts), c.check, c.summary))
    ordered_checks = sorted(checks.values(), key=lambda r: (-r["fail"], -r["error"], -r["warn"],
                                                            r["id"]))
    stamp = (now or datetime.now(timezone.utc)).strftime("%Y-%m-%dT%H:%M:%SZ")
    return {
        "schema": SCHEMA_ID,
        "gpudoctor_version": __version__,
        "generated_at": stamp,
        "totals": {"hosts": len(hosts) + len(unreadable) + len(missing),
                   "reported": len(hosts), "ok": len(hosts) - failing_hosts,
                   "failing": failing_hosts, "unreadable": len(unreadable),
                   "missing": len(missing)},
        "checks": ordered_checks,
        "causes": [c.to_doc() for c in ordered_causes],
        "hosts": hosts,
        "unreadable": unreadable,
        "missing": missing,
        "versions": {key: dict(counter.most_common()) for key, counter in versions.items()},
    }


def exit_code(summary: dict[str, Any]) -> int:
    """1 when any host fails or its report is missing or unreadable, else 0."""
    totals = summary["totals"]
    return 1 if totals["failing"] or totals["unreadable"] or totals["missing"] else 0
