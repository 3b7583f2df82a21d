"""Which container engines this host has, and which one the person's commands reach.

Many GPU hosts never run Docker: Fedora and RHEL default to Podman, and every Kubernetes node
runs containerd or CRI-O under a kubelet. The report's `engines` list (report.md 1.1) comes
from here, and so does the rule that a host without Docker but with another engine is judged
for the engine it has (`docker_absent_reason`): Docker's checks skip there instead of failing.
"""

from __future__ import annotations

from gpudoctor import TYPE_CHECKING
from gpudoctor.facts.engine_base import binary
from gpudoctor.record import field, record

if TYPE_CHECKING:
    from typing import Any

    from gpudoctor.facts import Facts

ENGINE_NAMES = ("docker", "podman", "containerd", "cri-o")


@record
class Engine:
    """One engine as the report shows it."""

    name: str
    version: str | None
    mode: str
    answers: bool | None
    config: str | None
    in_use: bool = False
    evidence: list[str] = field(default_factory=list)

    def to_report(self) -> dict[str, Any]:
        return {"name": self.name, "version": self.version, "mode": self.mode,
                "answers": self.answers, "config": self.config, "in_use": self.in_use}


def docker_installed(facts: Facts) -> bool:
    """Docker is on this host: it answers, runs, was captured answering, or dockerd exists."""
    d = facts.docker
    if d.reachable or d.process is not None or d.mode in ("desktop", "remote", "snap",
                                                          "rootless"):
        return True
    return bool(binary(facts.host, "dockerd"))


def _docker(facts: Facts) -> Engine | None:
    if not docker_installed(facts):
        return None
    d = facts.docker
    answers = d.reachable if d.captured else None
    return Engine("docker", d.server_version, d.mode, answers,
                  d.config_path if d.mode != "remote" else None,
                  evidence=[f"endpoint {d.endpoint} ({d.endpoint_source})"])


def _podman(facts: Facts) -> Engine | None:
    p = facts.podman
    if not p.installed:
        return None
    return Engine("podman", p.version, p.mode, p.answered,
                  p.conf_files[-1] if p.conf_files else None,
                  evidence=[p.version_evidence])


def _containerd(facts: Facts) -> Engine | None:
    c = facts.containerd
    if not c.installed:
        return None
    kubelet = facts.kubelet
    mode = "kubelet" if kubelet.present and kubelet.runtime == "containerd" else "standalone"
    if mode == "standalone" and docker_installed(facts):
        mode = "docker"  # the containerd dockerd runs its containers on
    return Engine("containerd", c.version, mode, c.running if c.processes_known else None,
                  c.config_path, evidence=[c.version_evidence])


def _crio(facts: Facts) -> Engine | None:
    c = facts.crio
    if not c.installed:
        return None
    mode = "kubelet" if facts.kubelet.present and facts.kubelet.runtime == "cri-o" else \
        "standalone"
    return Engine("cri-o", c.version, mode, c.running, c.config_path,
                  evidence=[c.version_evidence])


def discover_engines(facts: Facts) -> list[Engine]:
    """Every engine found, in a stable order, with `in_use` decided."""
    engines = [e for e in (_docker(facts), _podman(facts), _containerd(facts), _crio(facts))
               if e is not None]
    chosen = in_use_name(facts, engines)
    for engine in engines:
        engine.in_use = engine.name == chosen
        kubelet = facts.kubelet
        if kubelet.present and kubelet.runtime == engine.name:
            engine.in_use = True  # the node's pods run there, whatever the person types
    return engines


def in_use_name(facts: Facts, engines: list[Engine]) -> str | None:
    """The engine a person's `docker`/`podman` commands (or --engine) reach."""
    names = [e.name for e in engines]
    wanted = facts.options.extra.get("engine")
    if wanted in names:
        return str(wanted)
    docker = next((e for e in engines if e.name == "docker"), None)
    d = facts.docker
    chosen = d.endpoint_source != "the default socket"  # DOCKER_HOST or a docker context
    if docker is not None and (docker.answers or chosen or d.process is not None):
        return "docker"
    if "podman" in names:
        return "podman"
    if docker is not None:
        return "docker"
    if facts.kubelet.present and facts.kubelet.runtime in names:
        return facts.kubelet.runtime
    return names[0] if names else None


def docker_absent_reason(facts: Facts) -> str | None:
    """Why Docker's checks skip: no Docker here, and another engine is what the host has."""
    if docker_installed(facts):
        return None
    others = [e for e in facts.engines if e.name != "docker"]
    kubelet = facts.kubelet
    if not others and not kubelet.present:
        return None  # no engine at all: docker.daemon says how to install one
    names = ", ".join(f"{e.name} {e.version or ''}".strip() for e in others) or "a kubelet"
    return (f"Docker is not installed on this host; it is judged for the engine it has "
            f"({names}; see engines.present)")


def run_args(facts: Facts) -> dict[str, list[str]]:
    """report.md 1.1 `run_args`: the arguments per engine present (docker, podman)."""
    out: dict[str, list[str]] = {}
    names = [e.name for e in facts.engines]
    if docker_absent_reason(facts) is None:
        # Docker is here, or no engine is: the arguments are for the Docker to install
        out["docker"] = list(facts.docker_run_args)
    if "podman" in names:
        out["podman"] = podman_run_args(facts)
    return out


def podman_run_args(facts: Facts) -> list[str]:
    """`podman run` arguments: device files, CDI for NVIDIA, and the groups that survive.

    Rootful Podman takes `--group-add=GID` like Docker. Rootless Podman cannot add a host GID
    (it is not mapped into the user namespace); `--group-add=keep-groups` keeps the person's
    own supplementary groups instead (crun only).
    """
    from gpudoctor.facts.runargs import container_nodes, group_ids, nvidia_args

    nodes = container_nodes(facts)
    args = [f"--device={node}" for node in nodes]
    if nvidia_args(facts):
        args.append("--device=nvidia.com/gpu=all")
    gids = group_ids(facts)
    if gids:
        if facts.podman.mode == "rootless":
            args.append("--group-add=keep-groups")
        else:
            args += [f"--group-add={gid}" for gid in gids]
    return args
