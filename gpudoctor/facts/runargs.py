"""The exact `docker run` arguments for the selected GPUs (report.md `docker_run_args`).

AMD: `/dev/kfd` first, then every render node of each selected GPU (all partitions of a
partitioned MI300X), resolved (a /dev/dri/by-path name has colons, which `docker run --device`
rejects), and one `--group-add=GID` per distinct numeric group owning those nodes, because
images define their own `render` group (AMD's use GID 109) and kfd's group can differ from the
render nodes'. Intel: the render node. NVIDIA: how the daemon can give GPUs (facts/nvidia_args).

The same arguments as a docker compose service fragment: `devices:`, `group_add:` with quoted
GIDs (Compose v2 rejects YAML integers there), `runtime:` and a GPU device reservation.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Callable

from gpudoctor import TYPE_CHECKING
from gpudoctor.errors import HostError
from gpudoctor.host.base import FileStat, Host
from gpudoctor.record import record

if TYPE_CHECKING:
    from typing import Any

    from gpudoctor.facts import Facts

KFD = "/dev/kfd"


@record(frozen=True)
class DeviceNode:
    """A device file a container gets, as the host has it."""

    path: str  # resolved, as passed to --device
    stat: FileStat | None  # None: it does not exist (or could not be read)
    error: str = ""  # why stat failed, when it did
    requested: str = ""  # the name it was asked for, when that was a link

    @property
    def gid(self) -> int | None:
        return self.stat.gid if self.stat is not None else None


def resolve_node(host: Host, path: str) -> str:
    """The real device file behind `path` (by-path and other udev links resolved)."""
    real = host.link_target(path)
    return real if real is not None and real.startswith("/dev/") else path


def node_stat(facts: Facts, path: str) -> FileStat | None:
    """host.device_node(path), asked once per run (several checks look at the same nodes)."""
    return facts.memo(f"runargs.node:{path}", lambda: facts.host.device_node(path))


def render_nodes_of(facts: Facts, vendor: str) -> list[str]:
    """The resolved render nodes of the selected GPUs of one vendor, once each, in GPU order."""
    nodes: list[str] = []
    for gpu in facts.gpus.by_vendor(vendor):
        for render in gpu.render_nodes:
            real = resolve_node(facts.host, render)
            if real not in nodes:
                nodes.append(real)
    return nodes


def amd_nodes(facts: Facts) -> list[str]:
    """Device files an AMD container needs: /dev/kfd first, then render nodes in GPU order.

    Empty when no selected AMD GPU has a render node (no driver: nothing usable to pass).
    """
    renders = render_nodes_of(facts, "amd")
    return [KFD, *renders] if renders else []


def intel_nodes(facts: Facts) -> list[str]:
    return render_nodes_of(facts, "intel")


def container_nodes(facts: Facts) -> list[str]:
    """Every device file passed with --device=PATH, in argument order."""
    def compute() -> list[str]:
        nodes = amd_nodes(facts)
        nodes += [n for n in intel_nodes(facts) if n not in nodes]
        return nodes

    return facts.memo("runargs.container_nodes", compute)


def device_nodes(facts: Facts) -> list[DeviceNode]:
    """container_nodes with what the host says about each (type, numbers, mode, owner)."""
    def compute() -> list[DeviceNode]:
        found = []
        for path in container_nodes(facts):
            try:
                found.append(DeviceNode(path, node_stat(facts, path)))
            except HostError as exc:
                found.append(DeviceNode(path, None, error=exc.reason))
        return found

    return facts.memo("runargs.device_nodes", compute)


def group_ids(facts: Facts, nodes: list[str] | None = None) -> list[int]:
    """Distinct numeric GIDs owning the nodes, in node order; root's group 0 is not needed."""
    if nodes is None:
        infos = device_nodes(facts)
    else:
        infos = []
        for path in nodes:
            try:
                infos.append(DeviceNode(path, facts.host.device_node(path)))
            except HostError:
                continue
    gids: list[int] = []
    for info in infos:
        if info.gid is not None and info.gid != 0 and info.gid not in gids:
            gids.append(info.gid)
    return gids


def nvidia_args(facts: Facts) -> list[str]:
    """How this host's Docker can hand NVIDIA GPUs to a container (facts/nvidia_args.py).

    Nothing when no selected NVIDIA GPU is driven by nvidia (nouveau's or an unbound GPU is
    not usable: report.md wants the arguments empty then).
    """
    if not [g for g in facts.gpus.by_vendor("nvidia") if g.driver == "nvidia"]:
        return []
    from gpudoctor.facts.nvidia_args import nvidia_gpu_args

    return nvidia_gpu_args(facts)


def compute_run_args(facts: Facts) -> list[str]:
    nodes = container_nodes(facts)
    args = [f"--device={node}" for node in nodes]
    args += nvidia_args(facts)
    args += [f"--group-add={gid}" for gid in group_ids(facts)]
    if not args and facts.wsl.version == 2 and facts.wsl.dxg:
        return ["--gpus=all"]  # WSL2: the toolkit hands over /dev/dxg and the Windows libraries
    if nodes and facts.gpus.by_vendor("amd"):
        from gpudoctor.facts.amd import override_args  # opt-in: --hsa-override

        args += override_args(facts)
    return args


# ----- presenting the arguments -----------------------------------------------------------------
def docker_run_line(args: list[str], image: str = "IMAGE") -> str:
    """The command a person pastes: `docker run ARGS IMAGE`, shell-quoted."""
    return " ".join(["docker", "run", *(shlex.quote(a) for a in args), image])


def compose_service(args: list[str]) -> dict[str, Any]:
    """The docker compose service keys that do what `args` do on `docker run`.

    GIDs stay strings: Compose v2 refuses integers in `group_add` ("expected type 'string',
    got unconvertible type 'int'").
    """
    service: dict[str, Any] = {}
    devices: list[str] = []
    groups: list[str] = []
    gpu_requests: list[dict[str, Any]] = []
    for arg in args:
        key, _, value = arg.partition("=")
        if key == "--device":
            devices.append(value)
        elif key == "--group-add":
            groups.append(value)
        elif key == "--runtime":
            service["runtime"] = value
        elif key in ("--env", "-e"):
            service.setdefault("environment", []).append(value)
        elif key == "--gpus":
            gpu_requests.append(_gpu_request(value))
    if devices:
        service["devices"] = devices
    if groups:
        service["group_add"] = groups
    if gpu_requests:
        service["deploy"] = {"resources": {"reservations": {"devices": gpu_requests}}}
    return service


def _gpu_request(value: str) -> dict[str, Any]:
    """`--gpus` value -> a compose device reservation (facts/gpurequest.py)."""
    from gpudoctor.facts.gpurequest import compose_reservation, parse_gpus

    return compose_reservation(parse_gpus(value))


_PLAIN = re.compile(r"^[A-Za-z0-9_./][A-Za-z0-9_./=-]*$")


def _yaml_scalar(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    text = str(value)
    if text.isdigit() or not _PLAIN.match(text) or text.lower() in ("yes", "no", "true",
                                                                     "false", "null", "on",
                                                                     "off"):
        return "'" + text.replace("'", "''") + "'"
    return text


def yaml_lines(value: Any, scalar: Callable[[Any], str] = _yaml_scalar,
               indent: int = 0) -> list[str]:
    """A tiny block-style YAML writer for compose files, one output line per list item.

    `scalar` writes one plain value: the report quotes a string only where YAML would misread
    it, verify quotes every string. Empty mappings and lists are written `{}` and `[]`.
    """
    pad = " " * indent
    lines: list[str] = []
    if isinstance(value, dict):
        for key, item in value.items():
            if isinstance(item, (dict, list)) and item:
                lines.append(f"{pad}{key}:")
                lines.extend(yaml_lines(item, scalar, indent + 2))
            elif isinstance(item, (dict, list)):
                lines.append(f"{pad}{key}: {'{}' if isinstance(item, dict) else '[]'}")
            else:
                lines.append(f"{pad}{key}: {scalar(item)}")
    elif isinstance(value, list):
        for item in value:
            if isinstance(item, dict):
                inner = yaml_lines(item, scalar, indent + 2)
                inner[0] = f"{pad}- " + inner[0].lstrip()
                lines.extend(inner)
            else:
                lines.append(f"{pad}- {scalar(item)}")
    return lines


def compose_text(args: list[str], service: str = "app", image: str = "IMAGE") -> str:
    """A compose file fragment (valid for Compose v2) with one service using `args`."""
    body: dict[str, Any] = {"image": image}
    body.update(compose_service(args))
    return "\n".join(yaml_lines({"services": {service: body}})) + "\n"


def mode_string(kind: str, mode: int) -> str:
    """`ls -l` style: crw-rw---- for a char device with mode 0660."""
    letter = {"char": "c", "block": "b", "dir": "d", "link": "l"}.get(kind, "-")
    bits = "".join(flag if mode & (1 << (8 - i)) else "-"
                   for i, flag in enumerate("rwxrwxrwx"))
    return letter + bits


def describe_stat(path: str, st: FileStat | None, group_name: str | None = None) -> str:
    """One evidence line: `/dev/kfd: crw-rw---- 235:0 owner 0, group render (110)`."""
    if st is None:
        return f"{path}: does not exist"
    numbers = f" {st.major}:{st.minor}" if st.kind in ("char", "block") else ""
    group = f"{group_name} ({st.gid})" if group_name else f"GID {st.gid} (no name in /etc/group)"
    return (f"{path}: {mode_string(st.kind, st.mode)} {st.kind}{numbers}, owner UID {st.uid}, "
            f"group {group}")
