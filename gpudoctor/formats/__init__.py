"""Output formats for monitoring systems (Prometheus textfile, Nagios/Icinga plugin).

Each format is a function of the finished report (report.md), so what monitoring sees is
exactly what `--json` says. They are imported only when `--format` names them.
"""

from __future__ import annotations

from gpudoctor import TYPE_CHECKING

if TYPE_CHECKING:
    from typing import Any


FORMATS = ("text", "json", "prometheus", "nagios")


def gpu_counts(report: dict[str, Any]) -> tuple[int, int]:
    """(GPUs found, GPUs selected), counting compute GPUs only where the report says `kind`."""
    gpus = [g for g in report.get("gpus") or [] if g.get("kind", "compute") == "compute"]
    return len(gpus), sum(1 for g in gpus if g.get("selected"))


def failing(report: dict[str, Any]) -> list[dict[str, Any]]:
    return [c for c in report.get("checks") or [] if c.get("status") == "fail"]


def is_ready(report: dict[str, Any]) -> bool:
    """The report's `ready` (1.1) where it has one, else: no check failed."""
    ready = report.get("ready")
    if isinstance(ready, bool):
        return ready
    return not failing(report)
