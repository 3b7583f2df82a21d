"""Confirming or ruling out each recognised cause on this host.

Each cause names the checks that decide it; the first is the one whose verdict confirms it
(its failure is this cause), the others add context. Exactly those checks run (with the checks
they require), so `explain` is as quick as the question. A cause the host does not have is said
to be ruled out: the same error text is never blamed on a host that does not show it.
"""

from __future__ import annotations

from gpudoctor import TYPE_CHECKING
from gpudoctor.explain.text import Candidate
from gpudoctor.plugin import Status
from gpudoctor.record import field, record
from gpudoctor.report import Doctor
from gpudoctor.runner import Outcome
from gpudoctor.verify.causes import Cause, refine_cause

if TYPE_CHECKING:
    from typing import Any

CONFIRMED = "confirmed"
RULED_OUT = "ruled out"
UNKNOWN = "cannot tell here"
TEXT_ONLY = "from the text"


@record
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
    if facts is not None:
        gated = _vendor_gate(cause, facts)
        if gated is not None:
            return Verdict(cause, gated[0], seen, gated[1])
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


VENDOR_NAMES = {"nvidia": "NVIDIA", "amd": "AMD", "intel": "Intel"}


def _vendor_gate(cause: Cause, facts: Any) -> tuple[str, str] | None:
    """An NVIDIA, AMD or Intel error on a host without such a GPU is not this host's problem."""
    from gpudoctor.errors import HostError

    if not cause.vendor:
        return None
    try:
        if cause.vendor == "nvidia" and "microsoft" in (facts.kernel_release or "").lower():
            return None  # WSL2: the GPU is paravirtualised, with no PCI device to count
        present = [g for g in facts.gpus.gpus if g.vendor == cause.vendor]
    except HostError:
        return None
    if present:
        return None
    name = VENDOR_NAMES.get(cause.vendor, cause.vendor)
    return (RULED_OUT, f"this host has no {name} GPU, so this {name} error is not about this "
            f"host: the command or file asks for {name} GPUs it cannot give "
            "(`gpudoctor devices` prints the arguments for its GPUs)")


def _rootless_cgroups(cause: Cause, facts: Any) -> tuple[str, str] | None:
    """`bpf_prog_query(BPF_CGROUP_DEVICE) failed`: rootless without `no-cgroups = true`?"""
    from gpudoctor.errors import DockerUnavailable, HostError
    from gpudoctor.facts.toolkit import toolkit_config_for

    try:
        mode = facts.docker.mode
        config = toolkit_config_for(facts)
    except (HostError, DockerUnavailable):
        return None
    if mode != "rootless":
        return (RULED_OUT, f"this Docker daemon runs as {mode}, not rootless; it may change "
                "device cgroups (a rootless Podman or another engine printed this)")
    if config.no_cgroups is True:
        return (RULED_OUT, f"{config.path} already sets no-cgroups = true")
    return (CONFIRMED, f"rootless Docker, and {config.path} does not set no-cgroups = true")


def _permission(cause: Cause, facts: Any) -> tuple[str, str] | None:
    """A permission error inside a container is about the container's groups: the host tells
    which numeric groups it needs, or that its nodes are open to everyone."""
    from gpudoctor.errors import HostError
    from gpudoctor.facts.runargs import device_nodes, group_ids

    try:
        nodes = [n for n in device_nodes(facts) if n.stat is not None]
        gids = group_ids(facts)
    except HostError:
        return None
    if not nodes:
        return None
    if all(n.stat.mode & 0o006 == 0o006 for n in nodes if n.stat is not None):
        return (RULED_OUT, "the device files here are readable and writable by everyone, so "
                "no user is refused on this host")
    args = " ".join(f"--group-add={g}" for g in gids)
    return (TEXT_ONLY, "the device files here admit their group only: a non-root container "
            f"user needs {args or 'the numeric group that owns them'} (compose: group_add, "
            "quoted); root in the container needs nothing")


def _no_gpu_visible(cause: Cause, facts: Any) -> tuple[str, str] | None:
    """nvidia-smi's `No devices were found`: is there an NVIDIA GPU on the PCI bus at all?"""
    from gpudoctor.errors import HostError

    try:
        if "microsoft" in (facts.kernel_release or "").lower():
            return None
        nvidia = [g for g in facts.gpus.gpus if g.vendor == "nvidia"]
    except HostError:
        return None
    if nvidia:
        return None  # kernel.driver decides
    return (CONFIRMED, "this host has no NVIDIA GPU on its PCI bus (a VM without the GPU "
            "passed through, or the card is not seated or powered)")


PROBES = {
    "no-gpu-visible": _no_gpu_visible,
    "kfd-permission-denied": _permission,
    "render-node-permission": _permission,
    "hsa-out-of-resources": _permission,
    "device-missing-on-host": _device_missing,
    "runtime-unknown": _runtime_unknown,
    "rootless-device-cgroup": _rootless_cgroups,
}
