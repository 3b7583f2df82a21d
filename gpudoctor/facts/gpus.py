"""The GPU inventory: every GPU on the PCI bus, classified and selected, read from sysfs.

Classification comes from what the kernel exposes, never from pci.ids names, VRAM size or the
PCI class (see shared/reference/amd-container-stack.md §2).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from gpudoctor.errors import UserError
from gpudoctor.host.base import Host

if TYPE_CHECKING:
    from collections.abc import Callable

    from gpudoctor.facts import Options
    from gpudoctor.facts.pciids import PciIds

PCI_DEVICES = "/sys/bus/pci/devices"

#: PCI classes (base<<8 | subclass) that are GPUs: VGA, 3D, other display, accelerator.
GPU_CLASSES = frozenset({0x0300, 0x0302, 0x0380, 0x1200})
DISPLAY_CLASSES = frozenset({0x0300, 0x0302, 0x0380})
VENDORS = {0x1002: "amd", 0x10DE: "nvidia", 0x8086: "intel"}
INTEL_GPU_DRIVERS = frozenset({"i915", "xe"})

#: GC IP versions the kernel flags AMD_IS_APU for (amdgpu_discovery.c), plus later APUs.
AMD_APU_GC = frozenset({
    (9, 1, 0), (9, 2, 2), (9, 3, 0), (10, 1, 3), (10, 1, 4), (10, 3, 1), (10, 3, 3), (10, 3, 6),
    (10, 3, 7), (11, 0, 1), (11, 0, 4), (11, 5, 0), (11, 5, 1), (11, 5, 2), (11, 5, 3),
    (11, 5, 4), (11, 7, 0),
})
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
_CARD_RE = re.compile(r"^card\d+$")
_RENDER_RE = re.compile(r"^renderD\d+$")


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


@dataclass
class Gpu:
    pci: str
    vendor: str
    vendor_id: int
    device_id: int
    pci_class: int
    sysfs_path: str
    subsystem_vendor_id: int | None = None
    subsystem_device_id: int | None = None
    name: str | None = None
    driver: str | None = None
    card: str | None = None
    render: str | None = None
    #: Extra render/card nodes of the same GPU (e.g. compute partitions), beyond card/render.
    extra_renders: list[str] = field(default_factory=list)
    integrated: bool = False
    integrated_reason: str = ""
    selected: bool = False
    selection_reason: str = ""
    gc_version: tuple[int, int, int] | None = None

    @property
    def render_nodes(self) -> list[str]:
        return ([self.render] if self.render else []) + self.extra_renders

    @property
    def label(self) -> str:
        short = self.pci[5:] if self.pci.startswith("0000:") else self.pci
        return f"{short} {self.name or f'{self.vendor_id:04x}:{self.device_id:04x}'}"

    def to_report(self) -> dict[str, Any]:
        """The report.md `gpus` entry (plus additive keys)."""
        return {
            "pci": self.pci, "vendor": self.vendor, "vendor_id": f"0x{self.vendor_id:04x}",
            "device_id": f"0x{self.device_id:04x}", "name": self.name,
            "integrated": self.integrated, "driver": self.driver, "card": self.card,
            "render": self.render, "selected": self.selected,
            "pci_class": f"0x{self.pci_class:06x}", "extra_render": list(self.extra_renders),
            "integrated_reason": self.integrated_reason,
            "selection_reason": self.selection_reason,
        }


@dataclass
class Inventory:
    gpus: list[Gpu] = field(default_factory=list)
    #: Odd sysfs entries that were skipped, one line each (shown as evidence).
    problems: list[str] = field(default_factory=list)
    sysfs_readable: bool = True

    @property
    def selected(self) -> list[Gpu]:
        return [g for g in self.gpus if g.selected]

    def by_vendor(self, vendor: str, selected_only: bool = True) -> list[Gpu]:
        pool = self.selected if selected_only else self.gpus
        return [g for g in pool if g.vendor == vendor]

    def find(self, pci: str) -> Gpu | None:
        return next((g for g in self.gpus if g.pci == pci), None)


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


def classify(host: Host, gpu: Gpu, kernel: tuple[int, int] | None) -> None:
    """Decide integrated vs discrete from what the kernel exposes, with the reason."""
    if gpu.vendor == "amd":
        gpu.gc_version = _gc_version(host, gpu.sysfs_path)
        if gpu.driver == "amdgpu" and kernel is not None and kernel >= BOARD_INFO_KERNEL:
            has_board = host.exists(f"{gpu.sysfs_path}/board_info")
            gpu.integrated = not has_board
            gpu.integrated_reason = (
                "amdgpu exposes board_info only for discrete boards (Linux >= 6.7)"
                if has_board else "amdgpu hides board_info on APUs (Linux >= 6.7)")
            return
        if gpu.gc_version is not None and gpu.gc_version != (9, 4, 3):
            gpu.integrated = gpu.gc_version in AMD_APU_GC
            version = ".".join(map(str, gpu.gc_version))
            gpu.integrated_reason = (f"GC IP {version} is on the kernel's APU list" if
                                     gpu.integrated else f"GC IP {version} is a discrete GPU")
            return
        gpu.integrated = gpu.device_id in AMD_APU_DEVICE_IDS
        gpu.integrated_reason = ("device id is a known AMD APU" if gpu.integrated
                                 else "no APU signal in sysfs (treated as discrete)")
    elif gpu.vendor == "intel":
        gpu.integrated = gpu.pci.endswith(":00:02.0")
        gpu.integrated_reason = ("Intel's processor graphics sit at PCI 00:02.0" if gpu.integrated
                                 else "an Intel GPU off the processor's 00:02.0 slot is a card")
    elif gpu.vendor == "nvidia":
        gpu.integrated = False
        gpu.integrated_reason = "NVIDIA GPUs on the PCI bus are discrete"
    else:
        gpu.integrated = False
        gpu.integrated_reason = "not a GPU vendor containers can use (BMC or emulated VGA)"


def _drm_nodes(host: Host, dev: str) -> tuple[str | None, str | None]:
    card = render = None
    for entry in host.listdir(f"{dev}/drm"):
        if _CARD_RE.match(entry):
            card = card or f"/dev/dri/{entry}"
        elif _RENDER_RE.match(entry):
            render = render or f"/dev/dri/{entry}"
    return card, render


def read_gpu(host: Host, pci: str, problems: list[str]) -> Gpu | None:
    """One PCI function as a Gpu, or None when it is not a GPU."""
    dev = f"{PCI_DEVICES}/{pci}"
    klass = _hex_attr(host, f"{dev}/class")
    if klass is None:
        raw = host.read_attr(f"{dev}/class")
        if raw is not None:
            problems.append(f"{dev}/class holds {raw[:40]!r}, not a hex class code; skipped")
        return None
    if (klass >> 8) not in GPU_CLASSES:
        return None
    vendor_id = _hex_attr(host, f"{dev}/vendor")
    device_id = _hex_attr(host, f"{dev}/device")
    if vendor_id is None or device_id is None:
        problems.append(f"{dev}: vendor or device attribute is missing or not hex; skipped")
        return None
    vendor = VENDORS.get(vendor_id, "other")
    if (klass >> 8) == 0x1200 and vendor not in ("amd", "nvidia"):
        return None  # NPUs and other accelerators are not GPUs
    driver_link = host.readlink(f"{dev}/driver")
    driver = driver_link.rstrip("/").rsplit("/", 1)[-1] if driver_link else None
    if vendor == "intel" and (klass >> 8) == 0x0380 and driver not in INTEL_GPU_DRIVERS:
        return None
    card, render = _drm_nodes(host, dev)
    return Gpu(pci=pci, vendor=vendor, vendor_id=vendor_id, device_id=device_id,
               pci_class=klass, sysfs_path=host.realpath(dev),
               subsystem_vendor_id=_hex_attr(host, f"{dev}/subsystem_vendor"),
               subsystem_device_id=_hex_attr(host, f"{dev}/subsystem_device"),
               driver=driver, card=card, render=render)


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
            gpu.selected, gpu.selection_reason = True, "integrated, and the host has no discrete GPU"


def build_inventory(host: Host, options: Options,
                    names: Callable[[], PciIds] | None = None) -> Inventory:
    """Scan the PCI bus once; `names` gives the (cached) pci.ids for naming GPUs."""
    from gpudoctor.errors import HostError

    inv = Inventory()
    try:
        addresses = host.listdir(PCI_DEVICES)
    except HostError as exc:
        inv.sysfs_readable = False
        inv.problems.append(f"{PCI_DEVICES}: {exc.reason}")
        addresses = []
    release = host.read_attr("/proc/sys/kernel/osrelease")
    kernel = kernel_version(release)
    for pci in addresses:
        if normalize_pci(pci) != pci:
            inv.problems.append(f"{PCI_DEVICES}/{pci}: not a PCI address; skipped")
            continue
        gpu = read_gpu(host, pci, inv.problems)
        if gpu is None:
            continue
        classify(host, gpu, kernel)
        inv.gpus.append(gpu)
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
