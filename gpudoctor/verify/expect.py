"""What the container must show: the device nodes, groups and counts the host's facts predict."""

from __future__ import annotations

from collections.abc import Iterator

from gpudoctor import TYPE_CHECKING
from gpudoctor.errors import HostError, UserError
from gpudoctor.host.base import FileStat
from gpudoctor.record import field, record
from gpudoctor.verify.args import RunArgs
from gpudoctor.verify.constants import NONROOT_USER

if TYPE_CHECKING:
    from typing import Any

    from gpudoctor.facts import Facts


@record
class ExpectedDevice:
    """A device file the container must have, and what it is on the host."""

    path: str
    host_path: str
    source: str
    host: FileStat | None = None

    def describe_host(self) -> str:
        st = self.host
        if st is None:
            return f"{self.host_path}: not found on the host"
        if st.kind != "char":
            return f"{self.host_path}: a {st.kind} on the host, not a character device"
        return (f"{self.host_path} on the host: character device {st.major}:{st.minor}, mode "
                f"{st.mode_octal}, owner {st.uid}:{st.gid}")


@record
class ForbiddenNode:
    """A render node of an integrated GPU the selection left out: it must not be visible."""

    pci: str
    label: str
    path: str
    major: int
    minor: int


@record
class Expectations:
    devices: list[ExpectedDevice] = field(default_factory=list)
    #: NVIDIA GPUs were asked for (--gpus, a nvidia.com CDI device, or the nvidia runtime).
    nvidia_requested: bool = False
    #: How many GPUs nvidia-smi should list; None when unknown (at least one).
    nvidia_count: int | None = None
    forbidden: list[ForbiddenNode] = field(default_factory=list)
    group_ids: list[int] = field(default_factory=list)
    users: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {"devices": [d.path for d in self.devices], "nvidia": self.nvidia_requested,
                "nvidia_gpus": self.nvidia_count, "group_add": list(self.group_ids),
                "users": list(self.users),
                "forbidden": [{"pci": f.pci, "node": f.path, "major": f.major, "minor": f.minor}
                              for f in self.forbidden]}


def _node(facts: Facts, path: str) -> FileStat | None:
    try:
        return facts.host.device_node(path)
    except HostError:
        return None


def build_expectations(facts: Facts, run_args: RunArgs) -> Expectations:
    expect = Expectations(group_ids=run_args.numeric_groups)
    seen: set[str] = set()

    def add(path: str, host_path: str, source: str, st: FileStat | None) -> None:
        if path not in seen:
            seen.add(path)
            expect.devices.append(ExpectedDevice(path, host_path, source, st))

    for dev in run_args.devices:
        if dev.cdi:
            if dev.raw.startswith("amd.com/"):
                add("/dev/kfd", "/dev/kfd", dev.raw, _node(facts, "/dev/kfd"))
            continue
        st = _node(facts, dev.host)
        if st is not None and st.kind == "dir":
            for child_host, child_container, child in _devices_under(facts, dev.host,
                                                                     dev.container):
                add(child_container, child_host, dev.raw, child)
            continue
        add(dev.container, dev.host, dev.raw, st)
    daemon_default = str(facts.docker.info.get("DefaultRuntime") or "") if \
        facts.docker.reachable else ""
    nvidia_cdi = any(d.startswith("nvidia.com/") for d in run_args.cdi_devices)
    # A daemon whose default runtime is nvidia gives GPUs to `-e NVIDIA_VISIBLE_DEVICES=...`.
    by_default = daemon_default == "nvidia" and "NVIDIA_VISIBLE_DEVICES" in run_args.env
    expect.nvidia_requested = bool(run_args.gpus) or nvidia_cdi or \
        run_args.runtime == "nvidia" or by_default
    expect.nvidia_count = _expected_nvidia_count(facts, run_args)
    expect.forbidden = _forbidden_nodes(facts)
    expect.users = ["root", nonroot_user(run_args)]
    return expect


def _devices_under(facts: Facts, host_dir: str, container_dir: str,
                   depth: int = 0) -> Iterator[tuple[str, str, FileStat]]:
    """Device nodes in a folder passed whole (`--device=/dev/dri`), as docker walks it."""
    try:
        names = facts.host.listdir(host_dir)
    except HostError:
        return
    for name in names:
        host_path = f"{host_dir.rstrip('/')}/{name}"
        container_path = f"{container_dir.rstrip('/')}/{name}"
        if facts.host.is_link(host_path):
            continue
        st = _node(facts, host_path)
        if st is None:
            continue
        if st.kind == "char":
            yield host_path, container_path, st
        elif st.kind == "dir" and depth < 2:
            yield from _devices_under(facts, host_path, container_path, depth + 1)


def _expected_nvidia_count(facts: Facts, run_args: RunArgs) -> int | None:
    if run_args.gpus is not None and run_args.gpus.wanted is not None:
        return run_args.gpus.wanted
    try:
        known = len(facts.gpus.by_vendor("nvidia"))
    except (HostError, UserError):
        return None
    return known or None


def _forbidden_nodes(facts: Facts) -> list[ForbiddenNode]:
    try:
        gpus = [g for g in facts.gpus.gpus if g.integrated and not g.selected]
    except (HostError, UserError):
        return []
    nodes: list[ForbiddenNode] = []
    for gpu in gpus:
        for render in gpu.render_nodes:
            st = _node(facts, render)
            if st is not None and st.kind == "char":
                nodes.append(ForbiddenNode(gpu.pci, gpu.label, render, st.major, st.minor))
    return nodes


def nonroot_user(run_args: RunArgs) -> str:
    """The person's own non-root --user, else nobody:nogroup by number."""
    user = run_args.user
    if user and user.split(":")[0] not in ("0", "root"):
        return user
    return NONROOT_USER
