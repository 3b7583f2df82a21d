"""The NVIDIA container layer: how GPUs get into containers here, and what can go wrong with it.

The questions the toolkit's tracker keeps asking, answered from host facts:
- which mode the toolkit injects GPUs in (legacy hook, CDI, just-in-time CDI) and so whether
  running containers lose their GPUs on `systemctl daemon-reload` (`Failed to initialize NVML:
  Unknown Error`: systemd cgroup driver + hook-injected devices + no /dev/char links, toolkit#48);
- (facts/nvidia_advisories.py) whether the installed toolkit is covered by a security
  advisory, and (facts/nvidia_cuda.py) which CUDA version the loaded driver supports;
- which existing containers got their GPUs which way (Engine API inspect bodies).
"""

from __future__ import annotations

import json
import re
import time
from functools import cache

from gpudoctor import TYPE_CHECKING
from gpudoctor.errors import DockerUnavailable, HostError
from gpudoctor.record import field, record

if TYPE_CHECKING:
    from typing import Any

    from gpudoctor.facts import Facts
    from gpudoctor.facts.cdi import CdiSpec
    from gpudoctor.facts.toolkit import ToolkitInfo

CMD_NVIDIA_SMI_MIG = "nvidia-smi-mig"
SMI_TIMEOUT = 10.0
API_TIMEOUT = 5.0
MAX_CONTAINERS = 200
#: Seconds spent inspecting containers at most (as docker.containers).
TIME_BUDGET = 10.0


# ----- versions and tables ------------------------------------------------------------------------
def version_key(version: str | None) -> tuple[int, ...] | None:
    """'1.17.8-1' -> (1, 17, 8); '580.95.05' -> (580, 95, 5); None when not a version."""
    match = re.match(r"\s*v?(\d+(?:\.\d+)*)", version or "")
    if not match:
        return None
    parts = tuple(int(p) for p in match.group(1).split("."))
    return parts + (0,) * (3 - len(parts)) if len(parts) < 3 else parts


@cache
def load_table(name: str) -> dict[str, Any]:
    """A shipped data table (package data of gpudoctor.data)."""
    from gpudoctor.datafile import read_text

    return json.loads(read_text("gpudoctor.data", name))


# ----- the toolkit's mode -------------------------------------------------------------------------
@record
class ToolkitMode:
    """How the toolkit injects GPUs: legacy (the hook), cdi, jit-cdi, csv; None: no toolkit."""

    mode: str | None
    configured: str | None
    why: str

    @property
    def cdi(self) -> bool:
        return self.mode in ("cdi", "jit-cdi")


def toolkit_mode(tk: ToolkitInfo) -> ToolkitMode:
    """The mode config.toml sets, or what `auto` means for this version (1.18: jit-cdi)."""
    if not tk.installed:
        return ToolkitMode(None, None, "the toolkit is not installed")
    configured = tk.config.mode
    if configured and configured != "auto":
        return ToolkitMode(configured, configured,
                           f"{tk.config.path} sets mode = \"{configured}\"")
    version = version_key(tk.version)
    label = f"mode = \"{configured}\"" if configured else "no mode set (auto)"
    if version is None:
        return ToolkitMode("legacy", configured,
                           f"{label}, version unknown: assumed the legacy hook")
    if version >= (1, 18, 0):
        return ToolkitMode("jit-cdi", configured,
                           f"{label}: toolkit {tk.version} makes auto mean just-in-time CDI")
    return ToolkitMode("legacy", configured,
                       f"{label}: toolkit {tk.version} (before 1.18) injects with the legacy hook")


def mode_for(facts: Facts) -> ToolkitMode:
    return facts.memo("nvidia_layer.mode", lambda: toolkit_mode(facts.toolkit))


# ----- /dev/char links ----------------------------------------------------------------------------
@record
class CharLink:
    """A /dev/char/MAJOR:MINOR link for an NVIDIA device node."""

    path: str
    major: int
    minor: int
    present: bool

    @property
    def link(self) -> str:
        return f"/dev/char/{self.major}:{self.minor}"


def nvidia_node_paths(facts: Facts) -> list[str]:
    """The NVIDIA device files a container gets: /dev/nvidiaN of every NVIDIA GPU (its Device
    Minor), then the shared ones. Named, never found by listing /dev (a snapshot records what
    is read, and /dev holds much else)."""
    from gpudoctor.facts.gpus import nvidia_device_minor

    paths = []
    for gpu in facts.gpus.by_vendor("nvidia", selected_only=False):
        minor = nvidia_device_minor(facts.host, gpu.pci)
        if minor is not None:
            paths.append(f"/dev/nvidia{minor}")
    return [*paths, "/dev/nvidiactl", "/dev/nvidia-uvm", "/dev/nvidia-uvm-tools",
            "/dev/nvidia-modeset"]


def dev_char_links(facts: Facts) -> list[CharLink]:
    """Each NVIDIA device file and whether its /dev/char/MAJ:MIN link exists."""
    def compute() -> list[CharLink]:
        host = facts.host
        found: list[CharLink] = []
        for path in nvidia_node_paths(facts):
            try:
                node = host.device_node(path)
            except HostError:
                continue
            if node is None or node.kind != "char" or node.major is None:
                continue
            link = f"/dev/char/{node.major}:{node.minor}"
            try:
                present = host.is_link(link) or host.exists(link)
            except HostError:
                present = True  # unreadable is not "missing"
            found.append(CharLink(path, node.major, node.minor or 0, present))
        return found

    return facts.memo("nvidia_layer.char_links", compute)


# ----- containers ---------------------------------------------------------------------------------
@record
class ContainerGpu:
    """One existing container, and how it got NVIDIA GPUs (if it did)."""

    name: str
    state: str
    image: str
    env: dict[str, str]
    #: "hook" (--gpus request served by the hook), "cdi" (CDI devices), "runtime"
    #: (--runtime=nvidia with NVIDIA_VISIBLE_DEVICES), "devices" (explicit --device), or ""
    injection: str = ""

    @property
    def running(self) -> bool:
        return self.state == "running"


def parse_env(items: Any) -> dict[str, str]:
    env: dict[str, str] = {}
    for item in items or []:
        if isinstance(item, str) and "=" in item:
            key, _, value = item.partition("=")
            env[key] = value
    return env


def _section(detail: dict[str, Any], key: str) -> dict[str, Any]:
    value = detail.get(key)
    return value if isinstance(value, dict) else {}


def classify_container(detail: dict[str, Any]) -> ContainerGpu:
    """How an inspected container got NVIDIA GPUs, from its HostConfig and Config.Env."""
    hc, config, state = (_section(detail, k) for k in ("HostConfig", "Config", "State"))
    name = str(detail.get("Name") or detail.get("Id", "?"))[:64].lstrip("/")
    env = parse_env(config.get("Env"))
    item = ContainerGpu(name=name, state=str(state.get("Status") or "?"),
                        image=str(config.get("Image") or detail.get("Image") or "?"), env=env)
    devices = [d.get("PathOnHost", "") for d in hc.get("Devices") or [] if isinstance(d, dict)]
    for req in hc.get("DeviceRequests") or []:
        if not isinstance(req, dict):
            continue
        driver = req.get("Driver") or ""
        caps = {c for group in req.get("Capabilities") or [] if isinstance(group, list)
                for c in group}
        if driver == "cdi":
            item.injection = "cdi"
        elif driver in ("", "nvidia") and ("gpu" in caps or driver == "nvidia"):
            # Docker 29.2+ may serve it through CDI: the container then sees `void`
            item.injection = "cdi" if env.get("NVIDIA_VISIBLE_DEVICES") == "void" else "hook"
    if not item.injection:
        if any(str(p).startswith("/dev/nvidia") for p in devices):
            item.injection = "devices"
        elif hc.get("Runtime") == "nvidia" and env.get("NVIDIA_VISIBLE_DEVICES") not in (
                None, "", "void", "none"):
            item.injection = "runtime"
    return item


def containers(facts: Facts) -> list[ContainerGpu] | None:
    """Existing containers with their GPU injection; None when the daemon cannot be asked."""
    def compute() -> list[ContainerGpu] | None:
        d = facts.docker
        if not d.captured or not d.reachable:
            return None
        try:
            listing = facts.host.docker_api("/containers/json?all=1", d.endpoint, API_TIMEOUT)
        except DockerUnavailable:
            return None
        if not isinstance(listing, list):
            return None
        found = []
        started = time.monotonic()
        for summary in listing[:MAX_CONTAINERS]:
            if not isinstance(summary, dict) or not summary.get("Id"):
                continue
            if time.monotonic() - started > TIME_BUDGET:
                break  # huge hosts stay quick; the containers seen so far are judged
            try:
                detail = facts.host.docker_api(f"/containers/{summary['Id']}/json", d.endpoint,
                                               API_TIMEOUT)
            except DockerUnavailable:
                continue
            if isinstance(detail, dict):
                item = classify_container(detail)
                if item.image == "?" and summary.get("Image"):
                    item.image = str(summary["Image"])
                found.append(item)
        return found

    return facts.memo("nvidia_layer.containers", compute)


# ----- CDI refresh units and specs -------------------------------------------------------------
REFRESH_UNITS = ("nvidia-cdi-refresh.service", "nvidia-cdi-refresh.path")
UNIT_DIRS = ("/etc/systemd/system", "/lib/systemd/system", "/usr/lib/systemd/system")
#: Where `systemctl enable` links the refresh units (named: a listing would be recorded whole).
WANTS = ("multi-user.target.wants", "paths.target.wants", "sysinit.target.wants",
         "default.target.wants")


def refresh_units(facts: Facts) -> tuple[list[str], list[str]]:
    """(refresh unit files found, those enabled through a .wants link in /etc/systemd/system)."""
    host = facts.host
    shipped: list[str] = []
    for folder in UNIT_DIRS:
        for unit in REFRESH_UNITS:
            if unit not in shipped and host.exists(f"{folder}/{unit}"):
                shipped.append(unit)
    enabled: list[str] = []
    for folder in WANTS:
        for unit in REFRESH_UNITS:
            path = f"/etc/systemd/system/{folder}/{unit}"
            if unit not in enabled and (host.is_link(path) or host.exists(path)):
                enabled.append(unit)
    return shipped, enabled


def nvidia_specs(facts: Facts) -> list[CdiSpec]:
    """Parsed CDI specs of kind nvidia.com/*."""
    return [s for s in facts.cdi.valid_specs
            if s.kind and s.kind.startswith("nvidia.com/")]


# ----- MIG ----------------------------------------------------------------------------------------
def mig_enabled_gpus(facts: Facts) -> list[str] | None:
    """Indexes of GPUs with MIG mode enabled (nvidia-smi, recorded); None when unknown."""
    def compute() -> list[str] | None:
        host = facts.host
        if host.live and not host.which("nvidia-smi"):
            return None
        result = host.run(CMD_NVIDIA_SMI_MIG, ["nvidia-smi", "--query-gpu=index,mig.mode.current",
                                               "--format=csv,noheader"], timeout=SMI_TIMEOUT)
        if result is None or not result.ok:
            return None
        enabled = []
        for line in result.stdout.splitlines():
            parts = [p.strip() for p in line.split(",")]
            if len(parts) == 2 and parts[1].lower() == "enabled":
                enabled.append(parts[0])
        return enabled

    return facts.memo("nvidia_layer.mig", compute)


# ----- the NVML "Unknown Error" exposure ----------------------------------------------------------
@record
class NvmlExposure:
    """Whether GPU containers here lose their GPUs on `systemctl daemon-reload`."""

    cgroup_driver: str | None
    #: the ways of giving GPUs that work here and inject them with the legacy hook
    legacy_paths: list[str]
    mode: ToolkitMode
    missing_links: list[CharLink] = field(default_factory=list)
    links: list[CharLink] = field(default_factory=list)
    exposed_containers: list[ContainerGpu] = field(default_factory=list)

    @property
    def systemd(self) -> bool:
        return self.cgroup_driver == "systemd"

    @property
    def new_containers_exposed(self) -> bool:
        return self.systemd and bool(self.legacy_paths) and bool(self.missing_links)


def legacy_paths(facts: Facts, gpus: bool | None, gpus_via_cdi: bool,
                 runtime: bool) -> list[str]:
    """Which ways of giving GPUs (working, or the one the fixes lead to) inject them with the
    legacy hook, which adds the devices behind runc's back."""
    if mode_for(facts).mode != "legacy":
        return []
    paths = []
    if gpus and not gpus_via_cdi:
        paths.append("`--gpus`")
    if runtime:
        paths.append("`--runtime=nvidia`")
    return paths


def nvml_exposure(facts: Facts) -> NvmlExposure:
    def compute() -> NvmlExposure:
        from gpudoctor.facts.nvidia_args import GPUS_ALL, nvidia_ways

        d = facts.docker
        driver = d.info.get("CgroupDriver") if d.reachable else None
        ways = nvidia_ways(facts)
        links = dev_char_links(facts)
        exposure = NvmlExposure(
            cgroup_driver=str(driver) if driver else None,
            legacy_paths=legacy_paths(
                facts, not ways.hook_refused and (ways.gpus_driver or ways.args == GPUS_ALL),
                ways.gpus_via_cdi, ways.runtime),
            mode=mode_for(facts), links=links,
            missing_links=[link for link in links if not link.present])
        if exposure.systemd and exposure.missing_links:
            exposure.exposed_containers = [
                c for c in containers(facts) or []
                if c.running and (c.injection == "hook" or (
                    c.injection == "runtime" and exposure.mode.mode == "legacy"))]
        return exposure

    return facts.memo("nvidia_layer.nvml", compute)


__all__ = [
    "CharLink",
    "ContainerGpu",
    "NvmlExposure",
    "ToolkitMode",
    "classify_container",
    "containers",
    "dev_char_links",
    "legacy_paths",
    "load_table",
    "mig_enabled_gpus",
    "mode_for",
    "nvidia_node_paths",
    "nvidia_specs",
    "nvml_exposure",
    "parse_env",
    "refresh_units",
    "toolkit_mode",
    "version_key",
]
