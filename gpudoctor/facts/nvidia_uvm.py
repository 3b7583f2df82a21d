"""nvidia_uvm: loaded or not, /dev/nvidia-uvm there or not, loaded at boot or not, and whether
anything would load it on demand.

Why: CUDA needs the unified-memory module and its device file; without them `cudaGetDeviceCount`
reports no device although nvidia-smi sees every GPU. The container toolkit's legacy hook loads
it when a container starts (`load-kmods = true`), but CDI mode and `load-kmods = false` never
do, and a CDI spec generated while /dev/nvidia-uvm was absent leaves it out for good. The
nvidia.uvm check and the nvidia.load_uvm fix both read this one fact.
"""

from __future__ import annotations

import re

from gpudoctor import TYPE_CHECKING
from gpudoctor.errors import HostError
from gpudoctor.host.base import DEFAULT_PATH
from gpudoctor.record import record

if TYPE_CHECKING:
    from gpudoctor.facts import Facts
    from gpudoctor.host.base import FileStat, Host

UVM_NODE = "/dev/nvidia-uvm"
PERSIST_FILE = "/etc/modules-load.d/nvidia-uvm.conf"
#: systemd-modules-load's folders (man modules-load.d), then Debian's /etc/modules.
MODULES_LOAD_DIRS = ("/etc/modules-load.d", "/run/modules-load.d", "/usr/local/lib/modules-load.d",
                     "/usr/lib/modules-load.d", "/lib/modules-load.d")
SBIN_PATH = DEFAULT_PATH


@record
class UvmState:
    """nvidia_uvm: loaded, its device node, and what loads it."""

    loaded: bool
    node: FileStat | None
    #: "<file>: <line>" that loads nvidia-uvm at boot, or None.
    persisted: str | None
    #: Why nothing (or what) loads it when a container starts.
    on_demand: bool | None
    on_demand_reason: str
    nvidia_modprobe: str | None
    modprobe: str | None


def _module_line(line: str) -> bool:
    return line.split("#", 1)[0].strip().replace("-", "_") == "nvidia_uvm"


def persisted_by(host: Host) -> str | None:
    """The modules-load.d (or /etc/modules) line that loads nvidia-uvm at boot."""
    files: list[str] = []
    names_seen: set[str] = set()
    for folder in MODULES_LOAD_DIRS:
        try:
            names = host.listdir(folder)
        except HostError:
            continue
        for name in names:
            if name.endswith(".conf") and name not in names_seen:  # the first folder wins
                names_seen.add(name)
                files.append(f"{folder}/{name}")
    files.append("/etc/modules")
    for path in files:
        try:
            text = host.read_optional(path, 65536)
        except HostError:
            continue
        for line in (text or "").splitlines():
            if _module_line(line):
                return f"{path}: {line.strip()}"
    return None


def load_kmods(text: str | None) -> bool | None:
    """`load-kmods` of config.toml's [nvidia-container-cli] table (None: not set)."""
    section = ""
    for raw in (text or "").splitlines():
        line = raw.split("#", 1)[0].strip()
        if line.startswith("["):
            section = line.strip("[] ")
        elif section == "nvidia-container-cli":
            match = re.match(r"load-kmods\s*=\s*(true|false)\b", line)
            if match:
                return match.group(1) == "true"
    return None


def _nvidia_cdi_specs(facts: Facts) -> list[str]:
    """Paths of usable CDI specs of kind nvidia.com/gpu (facts/cdi.py reads them)."""
    try:
        specs = facts.cdi.valid_specs
    except HostError:
        return []
    return [s.path for s in specs if (s.kind or "").startswith("nvidia.com/")]


def inspect_uvm(facts: Facts) -> UvmState:
    host = facts.host
    try:
        node = host.device_node(UVM_NODE)
    except HostError:
        node = None
    on_demand: bool | None
    try:
        toolkit = facts.toolkit
    except HostError:
        toolkit = None
    cdi_specs = _nvidia_cdi_specs(facts)
    if toolkit is None or not toolkit.installed:
        on_demand, reason = None, "the NVIDIA Container Toolkit is not installed"
    elif cdi_specs:
        on_demand, reason = False, (
            f"NVIDIA CDI specs exist ({', '.join(cdi_specs[:2])}): containers given GPUs "
            "through CDI (`--device nvidia.com/gpu=...`, and `--gpus` on Docker >= 29.2) "
            "never load kernel modules")
    else:
        config = toolkit.config
        try:
            text = host.read_optional(config.path, 1024 * 1024)
        except HostError:
            text = None
        kmods = load_kmods(text)
        if config.mode == "cdi":
            on_demand, reason = False, (f'{config.path} sets mode = "cdi": CDI mode never '
                                        "loads kernel modules")
        elif kmods is False:
            on_demand, reason = False, f"{config.path} sets load-kmods = false"
        else:
            on_demand, reason = True, ("the toolkit's hook loads it when a --gpus container "
                                       "starts (load-kmods = true)")
    return UvmState(loaded="nvidia_uvm" in facts.modules, node=node,
                    persisted=persisted_by(host), on_demand=on_demand, on_demand_reason=reason,
                    nvidia_modprobe=host.which("nvidia-modprobe", SBIN_PATH),
                    modprobe=host.which("modprobe", SBIN_PATH))
