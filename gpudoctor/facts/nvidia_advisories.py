"""NVIDIA Container Toolkit security advisories, judged for the installed version and mode.

The table ships as dated data (gpudoctor/data/nvidia_advisories.json): each CVE with its last
affected and first fixed version, and the modes it does not affect; a report made more than a
year after the table's date says the table may be stale.
"""

from __future__ import annotations

import time

from gpudoctor import TYPE_CHECKING
from gpudoctor.facts.nvidia_layer import load_table, version_key
from gpudoctor.record import record

if TYPE_CHECKING:
    from typing import Any

ADVISORIES = "nvidia_advisories.json"
#: A report this long after the advisory table's date says the table may be stale.
STALE_AFTER_DAYS = 365


@record(frozen=True)
class Advisory:
    """One NVIDIA Container Toolkit security bulletin entry."""

    cve: str
    last_affected: str
    fixed: str
    summary: str
    source: str
    not_in_modes: tuple[str, ...] = ()
    only_cdi_before: str | None = None

    def affects(self, version: tuple[int, ...], mode: str | None) -> bool:
        """Whether a toolkit of this version, injecting in this mode, is affected."""
        last = version_key(self.last_affected)
        if last is None or version > last:
            return False
        cdi = mode in ("cdi", "jit-cdi")
        if cdi and "cdi" in self.not_in_modes:
            return False
        before = version_key(self.only_cdi_before)
        return not (before is not None and version < before and not cdi)


@record
class SecurityVerdict:
    """The bulletins that affect the installed toolkit version."""

    version: str
    mode: str | None
    affected: list[Advisory]
    table_date: str
    stale: bool
    known_missing: str = ""

    @property
    def fixed_in(self) -> str | None:
        """The version to upgrade to: the first no advisory in the table affects in any mode
        (a version between two fixes can be affected by a later advisory)."""
        return minimum_safe_version() if self.affected else None


def advisories() -> tuple[list[Advisory], dict[str, Any]]:
    table = load_table(ADVISORIES)
    rows = [Advisory(cve=r["cve"], last_affected=r["last_affected"], fixed=r["fixed"],
                     summary=r["summary"], source=r["source"],
                     not_in_modes=tuple(r.get("not_in_modes") or ()),
                     only_cdi_before=r.get("only_cdi_before"))
            for r in table["advisories"]]
    return rows, table


def judge_toolkit(version: str, mode: str | None, now: float) -> SecurityVerdict | None:
    """The advisories that apply to this toolkit version; None when the version is unreadable."""
    import calendar

    key = version_key(version)
    if key is None:
        return None
    rows, table = advisories()
    date = str(table["date"])
    dated = calendar.timegm(time.strptime(date, "%Y-%m-%d"))
    return SecurityVerdict(version=version, mode=mode,
                           affected=[a for a in rows if a.affects(key, mode)],
                           table_date=date, stale=now > dated + STALE_AFTER_DAYS * 86400,
                           known_missing=str(table.get("known_missing") or ""))


def minimum_safe_version() -> str:
    """The first version no advisory in the table affects, in any mode."""
    rows, _ = advisories()
    return max((a.fixed for a in rows), key=lambda v: version_key(v) or (0,))


__all__ = ["Advisory", "SecurityVerdict", "advisories", "judge_toolkit", "minimum_safe_version"]
