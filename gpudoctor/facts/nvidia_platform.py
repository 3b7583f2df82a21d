"""Where the NVIDIA driver runs: NVSwitch systems and Fabric Manager (WSL2 is facts/wsl.py), what
`nvidia-smi -L` lists, and what the kernel log says about the driver.

Why: on WSL2 there is no PCI GPU and no nvidia module by design (the Windows driver supplies
the GPU through /dev/dxg); on HGX/DGX systems the GPUs are useless until Fabric Manager has
trained the NVSwitch fabric (CUDA error 802); and the kernel log holds the driver's own words
(`NVRM: Xid`, "fallen off the bus", "API mismatch") that no container error repeats.

Commands run through the host layer under stable names (recorded in snapshots):
`nvidia-smi-L`, `nvidia-smi-fabric`, `nv-fabricmanager-version`,
`systemctl-is-active-nvidia-fabricmanager`, `journalctl-kernel`, `dmesg`.
"""

from __future__ import annotations

import re

from gpudoctor import TYPE_CHECKING
from gpudoctor.errors import HostError
from gpudoctor.facts.gpus import Gpu
from gpudoctor.facts.wsl import WSL_LIB_DIR
from gpudoctor.host.base import DEFAULT_PATH
from gpudoctor.record import field, record

if TYPE_CHECKING:
    from gpudoctor.facts import Facts
    from gpudoctor.facts.nvidia_driver import DriverPackage
    from gpudoctor.host.base import CommandResult, Host

TOOL_PATH = DEFAULT_PATH
FM_PATH = TOOL_PATH + ":/usr/libexec/nvidia/tesla/bin"
COMMAND_TIMEOUT = 15.0
CMD_SMI_LIST = "nvidia-smi-L"
CMD_SMI_FABRIC = "nvidia-smi-fabric"
CMD_FM_VERSION = "nv-fabricmanager-version"
CMD_FM_ACTIVE = "systemctl-is-active-nvidia-fabricmanager"
_VERSION_RE = r"(?<![\d.])(\d{3,}\.\d+(?:\.\d+)?)(?![\d.])"  # compiled on first use


# ----- commands ----------------------------------------------------------------------------------
def run_tool(host: Host, name: str, tool: str, args: list[str], path: str = TOOL_PATH,
             extra: tuple[str, ...] = ()) -> CommandResult | None:
    """Run a read-only tool by its stable name; None when a root did not record it or the
    live host does not have it (a root replays whatever was recorded, missing included)."""
    exe = tool
    if host.live:
        found = host.which(tool) or host.which(tool, path)
        for candidate in extra:
            if found is None and host.exists(candidate):
                found = candidate
        if found is None:
            return None
        exe = found
    return host.run(name, [exe, *args], COMMAND_TIMEOUT)


@record
class SmiList:
    """`nvidia-smi -L`: its GPUs (UUIDs), or why it failed."""

    ran: bool = False
    ok: bool = False
    uuids: list[str] = field(default_factory=list)
    lines: list[str] = field(default_factory=list)
    error: str = ""


def nvidia_smi_list(host: Host, wsl: bool = False) -> SmiList:
    extra = (f"{WSL_LIB_DIR}/nvidia-smi",) if wsl else ()
    result = run_tool(host, CMD_SMI_LIST, "nvidia-smi", ["-L"], extra=extra)
    out = SmiList()
    if result is None or result.missing:
        return out
    out.ran = True
    if not result.ok:
        said = [ln.strip() for ln in (result.stdout + result.stderr).splitlines() if ln.strip()]
        out.error = "; ".join(said) if said and not result.timed_out else (
            result.describe_failure())
        return out
    out.ok = True
    for line in result.stdout.splitlines():
        if line.startswith("GPU "):  # MIG devices are indented lines below their GPU
            out.lines.append(line.strip())
            match = re.search(r"\(UUID: (GPU-[0-9a-fA-F-]+)\)", line)
            if match:
                out.uuids.append(match.group(1))
    return out


# ----- NVSwitch and Fabric Manager ---------------------------------------------------------------
@record
class FabricManager:
    """NVSwitch devices and Fabric Manager: package, service, fabric state."""

    switches: list[Gpu] = field(default_factory=list)
    switch_nodes: list[str] = field(default_factory=list)
    package: DriverPackage | None = None
    binary: str | None = None
    version: str | None = None
    version_source: str = ""
    #: `systemctl is-active` answer ("active", "inactive", "failed"...), None when unknown.
    active: str | None = None
    #: (bus id, state, status) per GPU from nvidia-smi; empty when not known.
    fabric: list[tuple[str, str, str]] = field(default_factory=list)
    fabric_error: str = ""

    @property
    def present(self) -> bool:
        return bool(self.switches or self.switch_nodes)


def switch_nodes(host: Host) -> list[str]:
    """/dev/nvidia-nvswitchctl and /dev/nvidia-nvswitch0.. as the driver numbers them; asked
    for by name, so a snapshot never lists the whole of /dev."""
    found: list[str] = []
    for index in range(-1, 64):
        path = "/dev/nvidia-nvswitchctl" if index < 0 else f"/dev/nvidia-nvswitch{index}"
        try:
            there = host.device_node(path) is not None
        except HostError:
            there = False
        if not there and index >= 0:
            break
        if there:
            found.append(path)
    return found


def inspect_fabric(facts: Facts) -> FabricManager:
    host = facts.host
    fm = FabricManager(switches=list(facts.gpus.switches))
    fm.switch_nodes = switch_nodes(host)
    if not fm.present:
        return fm
    packages = facts.nvidia_driver.packages
    fm.package = next((p for n, p in sorted(packages.items())
                       if n.startswith(("nvidia-fabricmanager", "nvidia-fabric-manager"))
                       and p.installed), None)
    fm.binary = host.which("nv-fabricmanager", FM_PATH)
    if fm.package is not None and fm.package.driver_version:
        fm.version, fm.version_source = fm.package.driver_version, (
            f"package {fm.package.name} {fm.package.version}")
    elif fm.binary or not host.live:
        result = run_tool(host, CMD_FM_VERSION, "nv-fabricmanager", ["--version"], FM_PATH)
        if result is not None and result.ok:
            match = re.search(_VERSION_RE, result.stdout)
            if match:
                fm.version, fm.version_source = match.group(1), "`nv-fabricmanager --version`"
    active = run_tool(host, CMD_FM_ACTIVE, "systemctl", ["is-active", "nvidia-fabricmanager"])
    if active is not None and not active.missing and not active.timed_out:
        fm.active = (active.stdout.strip().splitlines() or ["unknown"])[0]
    fabric = run_tool(host, CMD_SMI_FABRIC, "nvidia-smi",
                      ["--query-gpu=pci.bus_id,fabric.state,fabric.status",
                       "--format=csv,noheader"])
    if fabric is not None and fabric.ok:
        for line in fabric.stdout.splitlines():
            parts = [p.strip() for p in line.split(",")]
            if len(parts) == 3:
                fm.fabric.append((parts[0], parts[1], parts[2]))
    elif fabric is not None and not fabric.missing:
        fm.fabric_error = fabric.describe_failure()
    return fm


# ----- kernel log --------------------------------------------------------------------------------
#: (finding, what it means, pattern) for the driver's messages in the kernel log.
KERNEL_SIGNALS = (
    ("xid", "NVRM Xid errors (the driver's GPU error reports)", re.compile(r"NVRM: Xid")),
    ("fallen_off_bus", "a GPU fell off the bus (it stopped answering on PCIe)",
     re.compile(r"fallen off the bus", re.I)),
    ("api_mismatch", "API mismatch between the user-space driver and the kernel module",
     re.compile(r"NVRM: API mismatch")),
    ("open_modules_required", "a GPU that needs the NVIDIA open kernel modules",
     re.compile(r"requires use of the NVIDIA open kernel modules", re.I)),
    ("rm_init_failed", "the driver could not initialise a GPU (RmInitAdapter failed)",
     re.compile(r"RmInitAdapter failed")),
)


@record
class KernelLog:
    """The NVIDIA driver's messages in this boot's kernel log."""

    source: str | None = None  # the command name it came from; None when not readable
    lines: int = 0
    error: str = ""
    hits: dict[str, list[str]] = field(default_factory=dict)


def read_kernel_log(facts: Facts) -> KernelLog:
    """The NVIDIA driver's lines in this boot's kernel log, from the log every vendor shares
    (facts/kernel_log.py: the journal first, else dmesg, recorded under those names)."""
    from gpudoctor.facts.kernel_log import read_kernel_log as shared_log

    shared = shared_log(facts)
    log = KernelLog(source=shared.source, lines=len(shared.lines), error=shared.problem)
    for line in shared.lines:
        if "NVRM" not in line and "nvidia" not in line.lower():
            continue
        for key, _, pattern in KERNEL_SIGNALS:
            if pattern.search(line):
                log.hits.setdefault(key, []).append(line.strip())
    return log
