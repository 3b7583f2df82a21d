"""The report of shared/design/report.md, and the doctor session that produces it.

`Doctor` is what every front end (text, --json, TUI, fix, snapshot) uses: open a host, load the
plugins, run the checks, build the report. Exit codes: 0 nothing failed, 1 a check failed,
2 bad command line or unreadable root, 3 gpudoctor itself broke. A check in `error` could not
judge its part of the host, and a host that could not be judged is not known to be healthy:
that exits 1 too.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import datetime, timezone

from gpudoctor import TYPE_CHECKING, __version__
from gpudoctor.facts import Facts, Options
from gpudoctor.facts.versions import seen_versions
from gpudoctor.host.base import Host
from gpudoctor.plugin import Status
from gpudoctor.record import field, record
from gpudoctor.registry import Registry
from gpudoctor.runner import Outcome, failure_outcome, run_checks
from gpudoctor.verdict import blocking_checks, is_ready

if TYPE_CHECKING:
    from typing import Any

SCHEMA_ID = "gpudoctor.report/1"
STATUSES = ("pass", "warn", "fail", "skip", "error")


def summarize(outcomes: list[Outcome]) -> dict[str, int]:
    counts = dict.fromkeys(STATUSES, 0)
    for outcome in outcomes:
        counts[outcome.result.status.value] += 1
    return counts


def generated_at() -> str:
    """Now, RFC 3339 in UTC to the second (report.md 1.1 `generated_at`)."""
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def hostname_of(host: Host) -> str | None:
    """The host's name as its kernel has it (a snapshot replays what was recorded, redacted
    unless --no-redact); None when it cannot be read."""
    for path in ("/proc/sys/kernel/hostname", "/etc/hostname"):
        try:
            text = host.read_optional(path, 256)
        except Exception:
            continue
        name = (text or "").strip()
        if name:
            return name
    return None


def exit_code(outcomes: list[Outcome]) -> int:
    return 1 if any(o.result.status in (Status.FAIL, Status.ERROR) for o in outcomes) else 0


def _known(value: Callable[[], Any], fallback: Any) -> Any:
    """A fact for the report, or `fallback` when it cannot be had (a check says why)."""
    try:
        return value()
    except Exception:
        return fallback


@record
class Doctor:
    """One diagnosis of one host."""

    host: Host
    options: Options = field(default_factory=Options)
    registry: Registry | None = None
    facts: Facts | None = None
    outcomes: list[Outcome] = field(default_factory=list)
    #: Add each check's duration_ms (`--timings`); off by default, so two runs on the same
    #: host give the same JSON apart from `generated_at` (report.md 1.1).
    timings: bool = False

    def load(self) -> Registry:
        if self.registry is None:
            from gpudoctor import registry

            self.registry = registry.load()
        return self.registry

    def fresh_facts(self) -> Facts:
        """Forget what was learnt (after a fix changed the host) and start over."""
        self.facts = Facts(self.host, self.options)
        return self.facts

    def run(self, only: list[str] | None = None,
            on_result: Callable[[Outcome], None] | None = None) -> list[Outcome]:
        reg = self.load()
        facts = self.fresh_facts()
        checks = reg.ordered_checks(include_opt_in=self.options.smoke)
        if only is not None:
            checks = [c for c in checks if c.id in only]
        outcomes = run_checks(checks, facts, sources=reg.sources, on_result=on_result)
        outcomes += [failure_outcome(f) for f in reg.failures if f.group == "gpudoctor.checks"]
        self.outcomes = outcomes
        return outcomes

    def report(self) -> dict[str, Any]:
        facts = self.facts or self.fresh_facts()
        host_info: dict[str, Any] = dict(self.host.meta())
        # A fact a timed-out check left unfinished is given up on, all together, after one
        # check timeout: the report is printed, never waited for without end.
        with facts.waiting_until(time.monotonic() + self.options.check_timeout):
            host_info["kernel"] = _known(lambda: facts.kernel_release, None)
            host_info["os"] = _known(lambda: facts.os_name, None)
            host_info["hostname"] = hostname_of(self.host)
            # the gpu.present check reports the reason as an error
            gpus = _known(lambda: [g.to_report() for g in facts.gpus.gpus + facts.gpus.switches],
                          [])
            # engines.present reports the reason as an error
            engines, per_engine = _known(
                lambda: ([e.to_report() for e in facts.engines], facts.run_args), ([], {}))
            versions = seen_versions(facts, self.outcomes)
        run_args = list(per_engine.get("docker", []))
        used = [e["name"] for e in engines if e["in_use"] and e["name"] in per_engine]
        ready_args = per_engine[used[0]] if used else run_args
        checks = [o.to_report() for o in self.outcomes]
        if not self.timings:
            for check in checks:
                check.pop("duration_ms", None)
        blocking = blocking_checks(checks)
        return {
            "schema": SCHEMA_ID,
            "gpudoctor_version": __version__,
            "generated_at": generated_at(),
            "host": host_info,
            "ready": is_ready(ready_args, blocking),
            "blocking": blocking,
            "gpus": gpus,
            "checks": checks,
            "docker_run_args": run_args,
            "engines": engines,
            "run_args": per_engine,
            "summary": summarize(self.outcomes),
            "versions": versions,
        }

    def exit_code(self) -> int:
        return exit_code(self.outcomes)
