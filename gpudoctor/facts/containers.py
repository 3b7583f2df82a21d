"""Whether an existing container's GPU configuration still fits this host.

`docker start` re-uses the device paths, GPU requests and runtime a container was created with.
docker.containers judges every container with this, and `gpudoctor explain --container` judges
the one the person names: one decision, two views.
"""

from __future__ import annotations

from gpudoctor import TYPE_CHECKING
from gpudoctor.errors import HostError
from gpudoctor.facts import Facts
from gpudoctor.record import field, record

if TYPE_CHECKING:
    from typing import Any


@record
class ContainerProblem:
    """A container whose GPU set-up no longer fits this host, and why."""

    name: str
    state: str
    problems: list[str] = field(default_factory=list)
    integrated: bool = False



def fit_to_host(facts: Facts, name: str, state: str, detail: Any) -> ContainerProblem:
    """What no longer fits this host in a container's GPU configuration (its HostConfig)."""
    problem = ContainerProblem(name=name, state=state)
    hc = detail.get("HostConfig") if isinstance(detail, dict) else None
    if not isinstance(hc, dict):
        return problem
    _devices(facts, hc, problem)
    _requests(facts, hc, problem)
    runtime = hc.get("Runtime")
    daemon = facts.docker
    if runtime and runtime not in daemon.runtimes and daemon.runtimes:
        problem.problems.append(
            f"created with --runtime={runtime}, which the daemon no longer has: `docker "
            f"start` fails with `{daemon.unknown_runtime_error(runtime)}`")
    return problem

def _devices(facts: Facts, hc: dict[str, Any], problem: ContainerProblem) -> None:
    host = facts.host
    gpus = facts.gpus.gpus
    has_discrete = any(not g.integrated for g in gpus)
    for mapping in hc.get("Devices") or []:
        if not isinstance(mapping, dict):
            continue
        path = mapping.get("PathOnHost")
        if not isinstance(path, str) or not path:
            continue
        try:
            node = host.device_node(path)
        except HostError as exc:
            problem.problems.append(f"--device {path}: cannot be checked: {exc.reason}")
            continue
        if node is None:
            problem.problems.append(f"--device {path}: the device file no longer exists")
            continue
        if node.kind not in ("char", "block"):
            problem.problems.append(f"--device {path}: is a {node.kind}, not a device file")
            continue
        try:
            real = host.realpath(path)
        except (HostError, OSError):
            real = path
        for gpu in gpus:
            nodes = {n for n in (gpu.card, *gpu.render_nodes) if n}
            if (path in nodes or real in nodes) and gpu.integrated and has_discrete:
                problem.integrated = True
                problem.problems.append(
                    f"--device {path}: now belongs to the integrated GPU {gpu.label} "
                    "(render nodes are numbered at boot and can change)")

def _requests(facts: Facts, hc: dict[str, Any], problem: ContainerProblem) -> None:
    requests = hc.get("DeviceRequests") or []
    if not requests:
        return
    from gpudoctor.facts.nvidia_args import nvidia_ways

    for req in requests:
        if not isinstance(req, dict):
            continue
        driver = req.get("Driver") or ""
        caps = req.get("Capabilities") or []
        flat = {c for group in caps if isinstance(group, list) for c in group}
        if driver == "cdi":
            ids = [i for i in req.get("DeviceIDs") or [] if isinstance(i, str)]
            cdi = facts.cdi
            gone = [i for i in ids if not cdi.offers(i)]
            if cdi.enabled is False:
                problem.problems.append(
                    f"requests CDI devices {', '.join(ids)} but the daemon has CDI off")
            elif gone:
                problem.problems.append(
                    f"requests CDI devices {', '.join(gone)} that no current spec offers: "
                    "`unresolvable CDI devices`")
        elif (driver in ("", "nvidia") and "gpu" in flat
              and nvidia_ways(facts).hook_refused):
            problem.problems.append(
                "created with --gpus, which the toolkit's hook refuses in its configured "
                "mode (see nvidia.toolkit_config): `invoking the NVIDIA Container Runtime "
                "Hook directly ... is not supported`")
        elif (driver in ("", "nvidia") and "gpu" in flat
              and nvidia_ways(facts).gpus_driver is False):
            problem.problems.append(
                f"created with --gpus (driver {driver or 'any'}), but the daemon has no "
                "NVIDIA device driver now: `could not select device driver "
                f"\"{driver}\" with capabilities: [[gpu]]`")
