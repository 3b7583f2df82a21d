"""Confirming or ruling out each recognised cause on this host.

Each cause names the checks that decide it; the first is the one whose verdict confirms it
(its failure is this cause), the others add context. Exactly those checks run (with the checks
they require), so `explain` is as quick as the question. A cause the host does not have is said
to be ruled out: the same error text is never blamed on a host that does not show it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from gpudoctor.explain.text import Candidate
from gpudoctor.plugin import Status
from gpudoctor.report import Doctor
from gpudoctor.runner import Outcome
from gpudoctor.verify.causes import Cause, refine_cause

CONFIRMED = "confirmed"
RULED_OUT = "ruled out"
UNKNOWN = "cannot tell here"
TEXT_ONLY = "from the text"


@dataclass
class Verdict:
    """A cause and what this host says about it."""

    cause: Cause
    verdict: str
    outcomes: list[Outcome] = field(default_factory=list)
    why: str = ""

    def to_json(self) -> dict[str, Any]:
        return {"cause": self.cause.to_json(), "verdict": self.verdict, "why": self.why,
                "checks": [{"id": o.id, "status": o.result.status.value,
                            "summary": o.result.summary, "fixes": list(o.result.fixes),
                            "commands": list(o.result.commands)} for o in self.outcomes]}


def checks_for(doctor: Doctor, wanted: list[str]) -> list[str]:
    """The wanted check ids and, transitively, the checks they require."""
    reg = doctor.load()
    out: list[str] = []
    todo = list(wanted)
    while todo:
        cid = todo.pop(0)
        if cid in out or cid not in reg.checks:
            continue
        out.append(cid)
        todo += list(reg.checks[cid].requires)
    return out


def judge(doctor: Doctor, candidates: list[Candidate]) -> list[Verdict]:
    """Run the checks the candidates name, then give each candidate its verdict."""
    wanted = [c for cand in candidates for c in cand.cause.checks]
    outcomes: dict[str, Outcome] = {}
    if wanted:
        for outcome in doctor.run(only=checks_for(doctor, wanted)):
            outcomes[outcome.id] = outcome
    facts = doctor.facts or doctor.fresh_facts()
    verdicts = []
    for cand in candidates:
        cause = refine_cause(cand.cause, facts)
        verdicts.append(decide(cause, outcomes, facts))
    return verdicts


def decide(cause: Cause, outcomes: dict[str, Outcome], facts: Any = None) -> Verdict:
    seen = [outcomes[c] for c in cause.checks if c in outcomes]
    probe = PROBES.get(cause.id)
    if probe is not None and facts is not None:
        decided = probe(cause, facts)
        if decided is not None:
            return Verdict(cause, decided[0], seen, decided[1])
    if not cause.checks:
        return Verdict(cause, TEXT_ONLY, [], "the text alone tells; no host check decides it")
    if not seen:
        return Verdict(cause, UNKNOWN, [], "the checks that decide it are not installed")
    primary = seen[0] if seen[0].id == cause.checks[0] else None
    if primary is None:
        return Verdict(cause, UNKNOWN, seen, f"{cause.checks[0]} did not run")
    status = primary.result.status
    if status in (Status.FAIL, Status.WARN):
        return Verdict(cause, CONFIRMED, seen, f"{primary.id}: {primary.result.summary}")
    if status is Status.PASS:
        return Verdict(cause, RULED_OUT, seen,
                       f"{primary.id} passes here: {primary.result.summary}. The error came "
                       "from another host, or from before this host was changed (try again).")
    return Verdict(cause, UNKNOWN, seen, f"{primary.id}: {primary.result.summary}")


# ----- causes whose text names the very thing to look at ---------------------------------------
def _device_missing(cause: Cause, facts: Any) -> tuple[str, str] | None:
    """`error gathering device information ... "$device"`: is that file on this host?"""
    from gpudoctor.errors import HostError
    from gpudoctor.facts.runargs import container_nodes, node_stat

    device = cause.value("device")
    if not device:
        return None
    try:
        present = node_stat(facts, device) is not None
        wanted = container_nodes(facts)
    except HostError:
        return None
    if present:
        return (RULED_OUT, f"{device} exists here; the error came from another host or from "
                "before the driver created it")
    use = f"; the selected GPUs' device files here are {', '.join(wanted)}" if wanted else ""
    return (CONFIRMED, f"{device} does not exist on this host{use}")


def _runtime_unknown(cause: Cause, facts: Any) -> tuple[str, str] | None:
    """`unknown or invalid runtime name: $runtime`: has this daemon loaded it?"""
    from gpudoctor.errors import DockerUnavailable, HostError

    runtime = cause.value("runtime")
    try:
        daemon = facts.docker
        if not runtime or not daemon.captured or not daemon.reachable:
            return None
        loaded = runtime in daemon.runtimes
    except (HostError, DockerUnavailable):
        return None
    if loaded:
        return (RULED_OUT, f"this daemon has the `{runtime}` runtime loaded now")
    return (CONFIRMED, f"this daemon's runtimes are {', '.join(daemon.runtimes) or 'none'}: "
            f"no `{runtime}`")


def _nvidia_hook(cause: Cause, facts: Any) -> tuple[str, str] | None:
    """`could not select device driver "nvidia"` on a host without an NVIDIA GPU."""
    from gpudoctor.errors import HostError

    try:
        nvidia = facts.gpus.by_vendor("nvidia")
    except HostError:
        return None
    if nvidia:
        return None  # the checks decide
    return (RULED_OUT, "this host has no NVIDIA GPU, so the NVIDIA driver is not what is "
            "missing here: the command or compose file asks for NVIDIA GPUs this host cannot "
            "give (`gpudoctor devices` prints the arguments for its GPUs)")


PROBES = {
    "device-missing-on-host": _device_missing,
    "runtime-unknown": _runtime_unknown,
    "gpus-driver-not-registered": _nvidia_hook,
    "nvidia-driver-not-registered": _nvidia_hook,
}
