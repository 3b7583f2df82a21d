"""What the compose judge needs to know about this host, computed once from the shared facts.

Kept apart from judge.py so the judging rules read as rules: "this device is not on the host",
not "ask the host layer about /dev/dri/renderD129". Every fact comes from `Facts`, the same ones
the checks use, so `compose` and `check` never disagree about the host.
"""

from __future__ import annotations

import re

from gpudoctor.errors import DockerUnavailable, HostError
from gpudoctor.facts import Facts
from gpudoctor.facts.gpus import Gpu
from gpudoctor.record import field, record

KFD = "/dev/kfd"
_VERSION = re.compile(r"(\d+)\.(\d+)(?:\.(\d+))?")


@record
class ComposeHost:
    """The host as the compose judge sees it."""

    facts: Facts
    #: render and card nodes (resolved) -> the GPU they belong to
    gpu_of_node: dict[str, Gpu] = field(default_factory=dict)
    selected: list[Gpu] = field(default_factory=list)
    #: resolved render nodes of the selected GPUs, per vendor
    selected_renders: dict[str, list[str]] = field(default_factory=dict)
    kfd_exists: bool = False
    #: Compose versions installed: "v1" (docker-compose) and "v2" (the docker CLI plugin)
    compose_versions: dict[str, str | None] = field(default_factory=dict)

    def resolve(self, path: str) -> str | None:
        """The device file behind `path` on this host (links resolved), or None when absent."""
        from gpudoctor.facts.runargs import node_stat, resolve_node

        real = resolve_node(self.facts.host, path)
        try:
            st = node_stat(self.facts, real)
        except HostError:
            return None
        return real if st is not None else None

    def gid_of(self, path: str) -> int | None:
        from gpudoctor.facts.runargs import node_stat

        try:
            st = node_stat(self.facts, path)
        except HostError:
            return None
        return st.gid if st is not None else None

    def group_name(self, gid: int) -> str | None:
        return self.facts.groups.name_of(gid)

    def gid_of_name(self, name: str) -> int | None:
        group = self.facts.groups.by_name.get(name)
        return group.gid if group is not None else None

    @property
    def nvidia_gpus(self) -> list[Gpu]:
        return [g for g in self.selected if g.vendor == "nvidia"]

    def gpus_driver(self) -> bool | None:
        """Whether `--gpus` / compose `driver: nvidia` works on this daemon (None: unknown)."""
        from gpudoctor.facts.nvidia_args import nvidia_ways

        try:
            return nvidia_ways(self.facts).gpus_driver
        except (HostError, DockerUnavailable):
            return None

    def runtime_loaded(self, name: str) -> bool | None:
        try:
            daemon = self.facts.docker
        except (HostError, DockerUnavailable):
            return None
        if not daemon.captured or not daemon.reachable:
            return None
        return name in daemon.runtimes


def compose_host(facts: Facts) -> ComposeHost:
    from gpudoctor.facts.runargs import resolve_node

    info = ComposeHost(facts=facts)
    for gpu in facts.gpus.gpus:
        for node in [gpu.card, *gpu.render_nodes]:
            if node:
                info.gpu_of_node[resolve_node(facts.host, node)] = gpu
                info.gpu_of_node[node] = gpu
    info.selected = list(facts.gpus.selected)
    for gpu in info.selected:
        nodes = info.selected_renders.setdefault(gpu.vendor, [])
        for node in gpu.render_nodes:
            real = resolve_node(facts.host, node)
            if real not in nodes:
                nodes.append(real)
    info.kfd_exists = info.resolve(KFD) is not None
    info.compose_versions = compose_versions(facts)
    return info


def compose_versions(facts: Facts) -> dict[str, str | None]:
    """Which Compose the host has: `docker-compose` (v1, or v2 installed standalone) and the
    `docker compose` plugin. Recorded in snapshots as `docker-compose-version` and
    `docker-compose-plugin-version`."""
    found: dict[str, str | None] = {}
    for name, argv in (("docker-compose-version", ["docker-compose", "version", "--short"]),
                       ("docker-compose-plugin-version", ["docker", "compose", "version",
                                                          "--short"])):
        try:
            result = facts.host.run(name, argv, timeout=10.0)
        except HostError:
            continue
        if result is None or not result.ok:
            continue
        match = _VERSION.search(result.stdout or "")
        if match:
            found[name] = match.group(0)
    versions: dict[str, str | None] = {}
    standalone = found.get("docker-compose-version")
    plugin = found.get("docker-compose-plugin-version")
    if standalone:
        versions["v1" if standalone.startswith("1.") else "v2"] = standalone
    if plugin:
        versions["v2"] = plugin
    return versions
