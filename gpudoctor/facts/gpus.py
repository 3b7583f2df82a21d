"""The GPU inventory: every GPU on the PCI bus, classified and selected, read from sysfs.

Classification comes from what the kernel exposes, never from pci.ids names, VRAM size or the
PCI class (see shared/reference/amd-container-stack.md §2): amdgpu's `board_info` (hidden on
APUs from Linux 6.7), then the GC IP version under `ip_discovery` against the kernel's APU
list, and known device ids only as a last resort.

Render nodes come from `/sys/bus/pci/devices/<bdf>/drm/`, the kernel's own map (never from
`cardN`/`renderD(128+N)` arithmetic). MI300-class compute partitions are DRM devices of
`amdgpu_xcp_N` platform devices that have no sysfs link to their GPU; the KFD topology ties
each active partition's render minor to its GPU (same `unique_id`, or `location_id` =
`pci_dev_id | partition`), the way AMD's container toolkit groups them.

Nothing odd in sysfs crashes the scan: an entry that cannot be read is skipped and noted in
`Inventory.problems`, which gpu.present shows as evidence.

Over 500 lines on purpose: the scan, the classification and the partition mapping share the
Gpu and Inventory types and one pass over sysfs; split, each part would re-walk the bus.
"""

from __future__ import annotations

import re

from gpudoctor import TYPE_CHECKING
from gpudoctor.errors import HostError, UserError
from gpudoctor.host.base import Host
from gpudoctor.record import field, record

if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

    from gpudoctor.facts import Options
    from gpudoctor.facts.pciids import PciIds

PCI_DEVICES = "/sys/bus/pci/devices"
PLATFORM_DEVICES = "/sys/bus/platform/devices"
KFD_NODES = "/sys/class/kfd/kfd/topology/nodes"
BY_PATH = "/dev/dri/by-path"

#: PCI classes (base<<8 | subclass) that are GPUs: VGA, 3D, other display, accelerator.
GPU_CLASSES = frozenset({0x0300, 0x0302, 0x0380, 0x1200})
#: NVSwitch (HGX/DGX): an NVIDIA function of the "other bridge" class; listed, never a GPU.
NVSWITCH_CLASS = 0x0680
VENDORS = {0x1002: "amd", 0x10DE: "nvidia", 0x8086: "intel"}
INTEL_GPU_DRIVERS = frozenset({"i915", "xe"})

#: GC IP versions the kernel flags AMD_IS_APU for (amdgpu_discovery.c), plus later APUs.
AMD_APU_GC = frozenset({
    (9, 1, 0), (9, 2, 2), (9, 3, 0), (10, 1, 3), (10, 1, 4), (10, 3, 1), (10, 3, 3), (10, 3, 6),
    (10, 3, 7), (11, 0, 1), (11, 0, 4), (11, 5, 0), (11, 5, 1), (11, 5, 2), (11, 5, 3),
    (11, 5, 4), (11, 7, 0),
})
#: GC IP versions of discrete GPUs (Vega, CDNA, RDNA 1-4), to say "known discrete".
AMD_DISCRETE_GC = frozenset({
    (9, 0, 1), (9, 2, 1), (9, 4, 0), (9, 4, 1), (9, 4, 2), (9, 5, 0), (10, 1, 0), (10, 1, 1),
    (10, 1, 2), (10, 3, 0), (10, 3, 2), (10, 3, 4), (10, 3, 5), (11, 0, 0), (11, 0, 2),
    (11, 0, 3), (12, 0, 0), (12, 0, 1),
})
#: GC 9.4.3 is both MI300X (an accelerator card) and MI300A (an APU); the kernel tells them
#: apart by the package type SMUIO reports. Without board_info, the device id does.
GC_MI300 = (9, 4, 3)
MI300A_DEVICE_IDS = frozenset({0x74A0})
#: MI300-family (GC 9.4.3) device ids: MI300A, MI300X, MI308X, MI325X and their VF/HF ids.
MI300_DEVICE_IDS = frozenset({0x74A0, 0x74A1, 0x74A2, 0x74A5, 0x74A9, 0x74B5, 0x74B6, 0x74B9,
                              0x74BD})
#: Device ids of AMD APUs, the last resort for kernels without board_info or IP discovery.
AMD_APU_DEVICE_IDS = frozenset({
    0x1304, 0x1305, 0x1306, 0x1307, 0x1309, 0x130A, 0x130B, 0x130C, 0x130D, 0x130E, 0x130F,
    0x1310, 0x1311, 0x1312, 0x1313, 0x1315, 0x1316, 0x1317, 0x1318, 0x131B, 0x131C, 0x131D,
    0x9870, 0x9874, 0x9875, 0x9876, 0x9877, 0x98E4,  # Kaveri, Carrizo, Stoney
    0x15DD, 0x15D8,  # Raven, Picasso
    0x1636, 0x1638, 0x164C, 0x15E7,  # Renoir, Cezanne, Lucienne, Barcelo
    0x163F, 0x1435,  # Van Gogh
    0x1681,  # Rembrandt
    0x164E, 0x13C0,  # Raphael, Granite Ridge
    0x1506,  # Mendocino
    0x15BF, 0x15C8, 0x1900, 0x1901,  # Phoenix, Hawk Point
    0x150E, 0x1586, 0x1114,  # Strix Point, Strix Halo, Krackan
    0x74A0,  # MI300A
})
#: amdgpu hides board_info on APUs from this kernel on (drm-next-6.7).
BOARD_INFO_KERNEL = (6, 7)

_BDF_RE = re.compile(r"^(?:([0-9a-fA-F]{4}):)?([0-9a-fA-F]{2}):([0-9a-fA-F]{2})\.([0-7])$")
_CARD_RE = re.compile(r"^card(\d+)$")
_RENDER_RE = re.compile(r"^renderD(\d+)$")


def normalize_pci(address: str) -> str | None:
    """'07:00.0' or '0000:07:00.0' -> '0000:07:00.0'; None when it is not a PCI address."""
    match = _BDF_RE.match(address.strip())
    if not match:
        return None
    domain, bus, dev, fn = match.groups()
    return f"{(domain or '0000').lower()}:{bus.lower()}:{dev.lower()}.{fn}"


def kernel_version(release: str | None) -> tuple[int, int] | None:
    if not release:
        return None
    match = re.match(r"(\d+)\.(\d+)", release)
    return (int(match.group(1)), int(match.group(2))) if match else None


def render_minor(node: str | None) -> int | None:
    """/dev/dri/renderD128 -> 128."""
    if not node:
        return None
    match = _RENDER_RE.match(node.rsplit("/", 1)[-1])
    return int(match.group(1)) if match else None


@record
class Gpu:
    """One GPU on the PCI bus: identity, driver, device nodes, whether selected."""

    pci: str
    vendor: str
    vendor_id: int
    device_id: int
    pci_class: int
    #: /sys/bus/pci/devices/<pci>: its attributes are read through this (cached) path.
    sysfs_path: str
    name: str | None = None
    driver: str | None = None
    card: str | None = None
    render: str | None = None
    #: Extra render nodes of the same GPU (MI300 compute partitions), beyond `render`.
    extra_renders: list[str] = field(default_factory=list)
    integrated: bool = False
    integrated_reason: str = ""
    selected: bool = False
    selection_reason: str = ""
    gc_version: tuple[int, int, int] | None = None
    #: amdgpu's unique_id (hex in sysfs), the key KFD partitions share with their GPU.
    unique_id: int | None = None
    #: Where the DRM nodes came from: "sysfs", "by-path" (sysfs had none) or "".
    nodes_source: str = ""

    @property
    def render_nodes(self) -> list[str]:
        return ([self.render] if self.render else []) + self.extra_renders

    @property
    def short_pci(self) -> str:
        return self.pci[5:] if self.pci.startswith("0000:") else self.pci

    @property
    def ids(self) -> str:
        return f"{self.vendor_id:04x}:{self.device_id:04x}"

    @property
    def label(self) -> str:
        return f"{self.short_pci} {self.name or self.ids}"

    @property
    def kind(self) -> str:
        return "integrated" if self.integrated else "discrete"

    @property
    def is_switch(self) -> bool:
        """An NVSwitch (report 1.1 `gpus[].kind` "switch"): never selected for containers."""
        return self.vendor == "nvidia" and self.pci_class >> 8 == NVSWITCH_CLASS

    @property
    def role(self) -> str:
        """report.md 1.1 `gpus[].kind`: `compute` (containers can compute on it), `display`
        (a BMC's or a VM's VGA: shows a console, runs no ROCm/CUDA/oneAPI) or `switch`
        (an NVSwitch-class bridge). "GPUs found" counts `compute` only."""
        if self.vendor == "other":
            return "display"
        if self.vendor == "nvidia" and (self.pci_class >> 8) == 0x0680:
            return "switch"
        return "compute"

    def to_report(self) -> dict[str, Any]:
        """The report.md `gpus` entry (plus additive keys)."""
        return {
            "pci": self.pci, "vendor": self.vendor, "vendor_id": f"0x{self.vendor_id:04x}",
            "device_id": f"0x{self.device_id:04x}", "name": self.name,
            "integrated": self.integrated, "driver": self.driver, "card": self.card,
            "render": self.render, "selected": self.selected, "kind": self.role,
            "pci_class": f"0x{self.pci_class:06x}", "extra_render": list(self.extra_renders),
            "integrated_reason": self.integrated_reason,
            "selection_reason": self.selection_reason,
            "gc_version": ".".join(map(str, self.gc_version)) if self.gc_version else None,
        }


@record(frozen=True)
class KfdNode:
    """One GPU node of the KFD topology (CPU nodes are left out)."""

    index: int
    render_minor: int
    location_id: int
    domain: int
    unique_id: int
    gfx_target_version: int
    vendor_id: int
    device_id: int

    @property
    def slot(self) -> tuple[int, int, int]:
        """(domain, bus, device): the PCI slot, whatever partition bits sit in location_id."""
        loc = self.location_id & 0xFFFF
        return self.domain, loc >> 8 & 0xFF, loc >> 3 & 0x1F


@record
class Inventory:
    """Every GPU (and NVSwitch) on the PCI bus, with what could not be read."""

    gpus: list[Gpu] = field(default_factory=list)
    #: Odd sysfs entries that were skipped, one line each (shown as evidence).
    problems: list[str] = field(default_factory=list)
    sysfs_readable: bool = True
    #: Partition render nodes that exist but are inactive in the current compute mode.
    idle_partitions: int = 0
    #: NVSwitch devices (HGX/DGX); not GPUs, so not in `gpus` and never selected.
    switches: list[Gpu] = field(default_factory=list)

    @property
    def selected(self) -> list[Gpu]:
        return [g for g in self.gpus if g.selected]

    def by_vendor(self, vendor: str, selected_only: bool = True) -> list[Gpu]:
        pool = self.selected if selected_only else self.gpus
        return [g for g in pool if g.vendor == vendor]

    def find(self, pci: str) -> Gpu | None:
        return next((g for g in self.gpus if g.pci == pci), None)


# ----- reading sysfs --------------------------------------------------------------------------
def _hex_attr(host: Host, path: str) -> int | None:
    raw = host.read_attr(path)
    if raw is None:
        return None
    try:
        return int(raw, 16)
    except ValueError:
        return None


def _gc_version(host: Host, dev: str) -> tuple[int, int, int] | None:
    base = f"{dev}/ip_discovery/die/0/GC/0"
    parts = []
    for name in ("major", "minor", "revision"):
        raw = host.read_attr(f"{base}/{name}")
        if raw is None or not raw.isdigit():
            return None
        parts.append(int(raw))
    return parts[0], parts[1], parts[2]


def _gc_text(version: tuple[int, int, int]) -> str:
    return ".".join(map(str, version))


def classify(host: Host, gpu: Gpu, kernel: tuple[int, int] | None) -> None:
    """Decide integrated vs discrete from what the kernel exposes, with the reason."""
    if gpu.vendor == "amd":
        _classify_amd(host, gpu, kernel)
    elif gpu.vendor == "intel":
        gpu.integrated = gpu.pci == "0000:00:02.0"
        gpu.integrated_reason = ("Intel's processor graphics sit at PCI 00:02.0" if gpu.integrated
                                 else "an Intel GPU off the processor's 00:02.0 slot is a card")
    elif gpu.vendor == "nvidia":
        gpu.integrated = False
        gpu.integrated_reason = "NVIDIA GPUs on the PCI bus are discrete"
    else:
        gpu.integrated = False
        gpu.integrated_reason = "not a GPU vendor containers can use (BMC or emulated VGA)"


def _classify_amd(host: Host, gpu: Gpu, kernel: tuple[int, int] | None) -> None:
    has_board: bool | None = None
    if gpu.driver == "amdgpu" and kernel is not None and kernel >= BOARD_INFO_KERNEL:
        try:
            has_board = host.exists(f"{gpu.sysfs_path}/board_info")
        except HostError:
            has_board = None  # unreadable: fall back to the GC version
    if has_board is not None:
        # exact: no need to read the GC version (a walk of ip_discovery per GPU)
        gpu.integrated = not has_board
        gpu.integrated_reason = (
            "amdgpu shows board_info, which it hides on APUs (Linux >= 6.7)" if has_board
            else "amdgpu hides board_info on APUs, and it is absent (Linux >= 6.7)")
        if gpu.device_id in MI300_DEVICE_IDS:
            gpu.integrated_reason += (": an MI300A APU" if gpu.integrated
                                      else ": an MI300X-class accelerator, not an MI300A APU")
        return
    gpu.gc_version = _gc_version(host, gpu.sysfs_path)
    if gpu.gc_version is not None:
        version = _gc_text(gpu.gc_version)
        if gpu.gc_version == GC_MI300:
            gpu.integrated = gpu.device_id in MI300A_DEVICE_IDS
            gpu.integrated_reason = (
                f"GC IP {version} with device id 0x{gpu.device_id:04x}: an MI300A APU"
                if gpu.integrated else
                f"GC IP {version} with device id 0x{gpu.device_id:04x}: an MI300X-class "
                "accelerator (MI300A is 0x74a0)")
            return
        if gpu.gc_version in AMD_APU_GC:
            gpu.integrated = True
            gpu.integrated_reason = f"GC IP {version} is on the kernel's APU list"
            return
        if gpu.gc_version in AMD_DISCRETE_GC:
            gpu.integrated = False
            gpu.integrated_reason = f"GC IP {version} is a discrete GPU's"
            return
        if gpu.device_id in AMD_APU_DEVICE_IDS:
            gpu.integrated = True
            gpu.integrated_reason = (f"GC IP {version} is not known here, but device id "
                                     f"0x{gpu.device_id:04x} is a known AMD APU")
            return
        gpu.integrated = False
        gpu.integrated_reason = (f"GC IP {version} is not on the kernel's APU list "
                                 "(treated as discrete)")
        return
    gpu.integrated = gpu.device_id in AMD_APU_DEVICE_IDS
    gpu.integrated_reason = (
        f"device id 0x{gpu.device_id:04x} is a known AMD APU (no board_info or IP discovery "
        "to ask)" if gpu.integrated else
        "no APU signal in sysfs and not a known APU device id (treated as discrete)")


def _drm_nodes(host: Host, dev: str) -> tuple[str | None, str | None]:
    """The lowest-numbered card and render node in <dev>/drm (a GPU has one of each)."""
    cards: list[int] = []
    renders: list[int] = []
    for entry in host.listdir(f"{dev}/drm"):
        match = _CARD_RE.match(entry)
        if match:
            cards.append(int(match.group(1)))
            continue
        match = _RENDER_RE.match(entry)
        if match:
            renders.append(int(match.group(1)))
    card = f"/dev/dri/card{min(cards)}" if cards else None
    render = f"/dev/dri/renderD{min(renders)}" if renders else None
    return card, render


def by_path_node(host: Host, pci: str, kind: str) -> str | None:
    """What udev's /dev/dri/by-path/pci-<pci>-<kind> resolves to, e.g. /dev/dri/renderD128.

    The by-path name itself has colons, which `docker run --device` rejects, so callers use
    the resolved node. None when udev made no such link or it does not land on a DRM node.
    """
    real = host.link_target(f"{BY_PATH}/pci-{pci}-{kind}")
    if real is None:
        return None
    pattern = _RENDER_RE if kind == "render" else _CARD_RE
    folder, _, name = real.rpartition("/")
    return real if folder == "/dev/dri" and pattern.match(name) else None


def read_gpu(host: Host, pci: str, problems: list[str]) -> Gpu | None:
    """One PCI function as a Gpu, or None when it is not a GPU."""
    dev = f"{PCI_DEVICES}/{pci}"
    try:
        raw_class = host.read_text(f"{dev}/class", 4096).strip()
    except HostError as exc:
        if exc.reason != "does not exist":
            problems.append(f"{dev}/class: {exc.reason}; skipped")
        return None  # a half-populated entry is not a GPU we can talk about
    try:
        klass = int(raw_class, 16)
    except ValueError:
        problems.append(f"{dev}/class holds {raw_class[:40]!r}, not a hex class code; skipped")
        return None
    if (klass >> 8) not in GPU_CLASSES and (klass >> 8) != NVSWITCH_CLASS:
        return None
    vendor_id = _hex_attr(host, f"{dev}/vendor")
    device_id = _hex_attr(host, f"{dev}/device")
    if vendor_id is None or device_id is None or vendor_id > 0xFFFF or device_id > 0xFFFF:
        problems.append(f"{dev}: GPU-class device whose vendor or device attribute is missing "
                        "or not a 16-bit hex id; skipped")
        return None
    vendor = VENDORS.get(vendor_id, "other")
    if (klass >> 8) == NVSWITCH_CLASS and vendor != "nvidia":
        return None  # other vendors' bridges
    if (klass >> 8) == 0x1200 and vendor not in ("amd", "nvidia"):
        return None  # NPUs and other accelerators are not GPUs
    driver_link = host.readlink(f"{dev}/driver")
    driver = driver_link.rstrip("/").rsplit("/", 1)[-1] if driver_link else None
    if vendor == "intel" and (klass >> 8) == 0x0380 and driver not in INTEL_GPU_DRIVERS:
        return None
    try:
        card, render = _drm_nodes(host, dev)
    except HostError as exc:
        card = render = None
        problems.append(f"{dev}/drm: {exc.reason}; its DRM nodes are unknown")
    source = "sysfs" if card or render else ""
    if not card and not render and driver is not None:
        # sysfs shows no DRM nodes: udev's by-path links, resolved, are the next best map
        card, render = by_path_node(host, pci, "card"), by_path_node(host, pci, "render")
        if card or render:
            source = "by-path"
            problems.append(f"{dev}/drm lists no DRM nodes; took {render or card} from "
                            f"{BY_PATH}/pci-{pci}-*")
    return Gpu(pci=pci, vendor=vendor, vendor_id=vendor_id, device_id=device_id,
               pci_class=klass, sysfs_path=dev, driver=driver, card=card, render=render,
               nodes_source=source)


# ----- KFD topology and compute partitions ----------------------------------------------------
def _properties(text: str) -> dict[str, int]:
    values: dict[str, int] = {}
    for line in text.splitlines():
        key, _, value = line.strip().partition(" ")
        value = value.strip()
        if key and value.isdigit():
            values[key] = int(value)
    return values


def read_kfd_topology(host: Host, problems: list[str] | None = None) -> list[KfdNode] | None:
    """The GPU nodes of the KFD topology, in node order; None when KFD is not there."""
    try:
        names = host.listdir(KFD_NODES)
    except HostError as exc:
        if problems is not None:
            problems.append(f"{KFD_NODES}: {exc.reason}")
        return None
    if not names and not host.exists("/sys/class/kfd/kfd"):
        return None
    nodes: list[KfdNode] = []
    for name in sorted((n for n in names if n.isdigit()), key=int):
        path = f"{KFD_NODES}/{name}/properties"
        try:
            props = _properties(host.read_text(path, 65536))
        except HostError as exc:
            if problems is not None:
                problems.append(f"{path}: {exc.reason}; node skipped")
            continue
        minor = props.get("drm_render_minor", 0)
        if props.get("simd_count", 0) == 0 or minor == 0:
            continue  # a CPU node
        nodes.append(KfdNode(
            index=int(name), render_minor=minor, location_id=props.get("location_id", 0),
            domain=props.get("domain", 0), unique_id=props.get("unique_id", 0),
            gfx_target_version=props.get("gfx_target_version", 0),
            vendor_id=props.get("vendor_id", 0), device_id=props.get("device_id", 0)))
    return nodes


def _partition_renders(host: Host, problems: list[str]) -> dict[int, str]:
    """Render minors of amdgpu_xcp partition devices -> their platform device name."""
    renders: dict[int, str] = {}
    try:
        names = host.listdir(PLATFORM_DEVICES)
    except HostError as exc:
        problems.append(f"{PLATFORM_DEVICES}: {exc.reason}")
        return renders
    for name in names:
        if not name.startswith("amdgpu_xcp"):
            continue
        try:
            entries = host.listdir(f"{PLATFORM_DEVICES}/{name}/drm")
        except HostError as exc:
            problems.append(f"{PLATFORM_DEVICES}/{name}/drm: {exc.reason}; partition skipped")
            continue
        for entry in entries:
            match = _RENDER_RE.match(entry)
            if match:
                renders[int(match.group(1))] = name
    return renders


def attach_partitions(host: Host, inv: Inventory) -> None:
    """Give each partitioned AMD GPU every render node of its active partitions.

    In CPX mode an MI300X shows 8 KFD nodes: its own render node and 7 of amdgpu_xcp devices.
    ROCm opens /dev/dri/renderD<drm_render_minor> of every KFD node, so a container needs all
    of them to see every partition.
    """
    amd = [g for g in inv.gpus if g.vendor == "amd" and g.driver == "amdgpu"]
    if not amd:
        return
    xcp = _partition_renders(host, inv.problems)
    if not xcp:
        return
    nodes = read_kfd_topology(host, inv.problems)
    for gpu in amd:
        gpu.unique_id = _hex_attr(host, f"{gpu.sysfs_path}/unique_id") or None
    if nodes is None:
        inv.problems.append(f"{len(xcp)} amdgpu_xcp partition render node(s) exist but the KFD "
                            "topology cannot be read to tie them to their GPUs")
        return
    by_unique = {g.unique_id: g for g in amd if g.unique_id}
    by_slot = {}
    for gpu in amd:
        domain, bus, rest = gpu.pci.split(":")
        by_slot[(int(domain, 16), int(bus, 16), int(rest.split(".")[0], 16))] = gpu
    active: set[int] = set()
    for node in nodes:
        if node.render_minor not in xcp:
            continue
        found = by_unique.get(node.unique_id) if node.unique_id else None
        match = found or by_slot.get(node.slot)
        if match is None:
            inv.problems.append(
                f"KFD node {node.index} (renderD{node.render_minor} of {xcp[node.render_minor]})"
                " matches no amdgpu GPU on the PCI bus; left out")
            continue
        active.add(node.render_minor)
        render = f"/dev/dri/renderD{node.render_minor}"
        if render != match.render and render not in match.extra_renders:
            match.extra_renders.append(render)
    for gpu in amd:
        gpu.extra_renders.sort(key=lambda r: render_minor(r) or 0)
    inv.idle_partitions = len(set(xcp) - active)


# ----- selection --------------------------------------------------------------------------------
def select(gpus: list[Gpu], options: Options) -> None:
    """Default selection of report.md, or the person's explicit choice."""
    if options.gpus:
        wanted = []
        for raw in options.gpus:
            pci = normalize_pci(raw)
            if pci is None:
                raise UserError(f"--gpu {raw}: not a PCI address (expected e.g. 0000:07:00.0)")
            wanted.append(pci)
        known = {g.pci for g in gpus}
        for pci in wanted:
            if pci not in known:
                listing = ", ".join(sorted(known)) or "none"
                raise UserError(f"--gpu {pci}: no GPU at that address (GPUs found: {listing})")
        for gpu in gpus:
            gpu.selected = gpu.pci in wanted
            gpu.selection_reason = "chosen with --gpu" if gpu.selected else "not chosen with --gpu"
        return
    usable = [g for g in gpus if g.vendor != "other"]
    has_discrete = any(not g.integrated for g in usable)
    for gpu in gpus:
        if gpu.vendor == "other":
            gpu.selected, gpu.selection_reason = False, "not a GPU containers can compute on"
        elif not gpu.integrated:
            gpu.selected, gpu.selection_reason = True, "discrete GPU"
        elif options.include_integrated:
            gpu.selected, gpu.selection_reason = True, "integrated, included on request"
        elif has_discrete:
            gpu.selected = False
            gpu.selection_reason = ("integrated GPU left out because a discrete GPU exists "
                                    "(use --include-integrated to add it)")
        else:
            gpu.selected = True
            gpu.selection_reason = "integrated, and the host has no discrete GPU"


def build_inventory(host: Host, options: Options,
                    names: Callable[[], PciIds] | None = None) -> Inventory:
    """Scan the PCI bus once; `names` gives the (cached) pci.ids for naming GPUs."""
    inv = Inventory()
    try:
        addresses = host.listdir(PCI_DEVICES)
    except HostError as exc:
        inv.sysfs_readable = False
        inv.problems.append(f"{PCI_DEVICES}: {exc.reason}")
        addresses = []
    kernel = kernel_version(host.read_attr("/proc/sys/kernel/osrelease"))
    for pci in addresses:
        if normalize_pci(pci) != pci:
            inv.problems.append(f"{PCI_DEVICES}/{pci}: not a PCI address; skipped")
            continue
        try:
            gpu = read_gpu(host, pci, inv.problems)
            if gpu is None:
                continue
            if gpu.is_switch:
                gpu.selection_reason = "an NVSwitch, not a GPU"
                inv.switches.append(gpu)
                continue
            classify(host, gpu, kernel)
        except HostError as exc:
            inv.problems.append(f"{PCI_DEVICES}/{pci}: {exc}; skipped")
            continue
        inv.gpus.append(gpu)
    try:
        attach_partitions(host, inv)
    except HostError as exc:
        inv.problems.append(f"compute partitions: {exc}; their render nodes are left out")
    if inv.gpus:
        if names is None:
            from gpudoctor.facts.pciids import find_pci_ids

            database = find_pci_ids(host)
        else:
            database = names()
        for gpu in inv.gpus:
            gpu.name = database.name(gpu.vendor_id, gpu.device_id)
    select(inv.gpus, options)
    return inv


def nvidia_device_minor(host: Host, pci: str) -> int | None:
    """`Device Minor:` of /proc/driver/nvidia/gpus/<pci>/information (/dev/nvidia<minor>)."""
    text = host.read_attr(f"/proc/driver/nvidia/gpus/{pci}/information")
    if not text:
        return None
    match = re.search(r"^Device Minor:\s*(\d+)", text, re.M)
    return int(match.group(1)) if match else None
