"""`--format prometheus`: the report as Prometheus text exposition, for node_exporter's
textfile collector (https://github.com/prometheus/node_exporter#textfile-collector).

Written through prometheus-client so names, label values and help text are escaped the way
Prometheus parses them. The text format (0.0.4) is used, not OpenMetrics: node_exporter's
textfile collector parses the text format. No sample carries a timestamp (the textfile
collector rejects them); the run's time is its own gauge instead.

Metrics (all gauges):
  gpudoctor_check_status{id,area,status}  1 for the check's status, 0 for the other four
  gpudoctor_checks{status}                 how many checks ended in each status
  gpudoctor_gpus_found / _selected         compute GPUs found, and selected for containers
  gpudoctor_ready                          1 when nothing known blocks GPU containers
  gpudoctor_info{version,nvidia_driver,amdgpu,toolkit,docker,kernel}  always 1
  gpudoctor_last_run_timestamp_seconds     when the report was made (Unix time)
"""

from __future__ import annotations

import time
from datetime import datetime

from gpudoctor import TYPE_CHECKING
from gpudoctor.formats import gpu_counts, is_ready

if TYPE_CHECKING:
    from typing import Any

STATUSES = ("pass", "warn", "fail", "skip", "error")


def _timestamp(report: dict[str, Any], now: float | None) -> float:
    stamp = report.get("generated_at")
    if isinstance(stamp, str):
        try:
            return datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()
        except ValueError:
            pass
    return time.time() if now is None else now


def render(report: dict[str, Any], now: float | None = None) -> bytes:
    """The report as Prometheus text format, ready for a `.prom` file."""
    from prometheus_client import CollectorRegistry, Gauge, Info, generate_latest

    registry = CollectorRegistry(auto_describe=False)
    status = Gauge("gpudoctor_check_status",
                   "gpudoctor check result: 1 for the status the check ended in, else 0",
                   ["id", "area", "status"], registry=registry)
    for check in report.get("checks") or []:
        for name in STATUSES:
            status.labels(check.get("id", ""), check.get("area", ""), name).set(
                1 if check.get("status") == name else 0)
    counts = Gauge("gpudoctor_checks", "Number of gpudoctor checks in each status",
                   ["status"], registry=registry)
    summary = report.get("summary") or {}
    for name in STATUSES:
        counts.labels(name).set(int(summary.get(name, 0)))
    found, selected = gpu_counts(report)
    Gauge("gpudoctor_gpus_found", "Compute GPUs gpudoctor found on the host",
          registry=registry).set(found)
    Gauge("gpudoctor_gpus_selected", "GPUs selected for containers",
          registry=registry).set(selected)
    Gauge("gpudoctor_ready", "1 when nothing known blocks GPU containers on this host, else 0",
          registry=registry).set(1 if is_ready(report) else 0)
    versions = report.get("versions") or {}
    info = {"version": str(report.get("gpudoctor_version") or ""),
            "kernel": str((report.get("host") or {}).get("kernel") or "")}
    for key in ("nvidia_driver", "amdgpu", "toolkit", "docker"):
        info[key] = str(versions.get(key) or "")
    Info("gpudoctor", "gpudoctor and the driver, toolkit and Docker versions it saw",
         registry=registry).info(info)
    Gauge("gpudoctor_last_run_timestamp_seconds", "When gpudoctor made this report (Unix time)",
          registry=registry).set(_timestamp(report, now))
    return generate_latest(registry)
