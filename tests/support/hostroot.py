"""Build host roots laid out the way the Linux kernel, udev and distributions lay out `/`.

Why: gpudoctor reads every host fact through a host root (shared/design/host-root.md). Code
written against hand-made trees that differ from real sysfs (absolute links, missing `drm/`
folders, `renderD(128+N)` numbering) breaks on real machines, so this builder reproduces the
kernel's layout: real device folders under `sys/devices/pci<domain>:<bus>/...` nested under
their bridges, relative symlinks computed the way sysfs computes them, attribute files with
the kernel's exact text, and the facts a root cannot hold in `.gpudoctor/host.json`.

Aggregate files (`etc/group`, `etc/passwd`, `proc/modules`, `proc/devices`, host.json) are
rendered by `finish()`, which may be called again after further changes.
"""

from __future__ import annotations

import json
import os
import posixpath
import re
import uuid
import zlib
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from tests.support.pciids_sample import PCI_IDS_2025, PCI_IDS_CLASS_SECTION

EFI_GLOBAL_VARIABLE_GUID = "8be4df61-93ca-11d2-aa0d-00e098032b8c"
SECURE_BOOT_VAR = f"/sys/firmware/efi/efivars/SecureBoot-{EFI_GLOBAL_VARIABLE_GUID}"
# EFI_VARIABLE_BOOTSERVICE_ACCESS | EFI_VARIABLE_RUNTIME_ACCESS, little-endian u32.
SECURE_BOOT_ATTRIBUTES = b"\x06\x00\x00\x00"

DRM_MAJOR = 226
NVIDIA_MAJOR = 195
DEFAULT_CAPTURED_AT = "2026-02-13T09:33:00Z"
DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
KFD_TOPOLOGY = "/sys/devices/virtual/kfd/kfd/topology"

_BDF_RE = re.compile(r"^[0-9a-f]{4}:[0-9a-f]{2}:[0-1][0-9a-f]\.[0-7]$")

# GC IP versions the kernel flags AMD_IS_APU (amdgpu_discovery.c, reference §2).
AMD_APU_GC_VERSIONS = frozenset(
    {
        (9, 1, 0), (9, 2, 2), (9, 3, 0), (10, 1, 3), (10, 1, 4), (10, 3, 1), (10, 3, 3),
        (10, 3, 6), (10, 3, 7), (11, 0, 1), (11, 0, 4), (11, 5, 0), (11, 5, 1), (11, 5, 2),
    }
)  # fmt: skip

# kfd_device.c kgd2kfd_probe: the gfx target is not always the GC version.
GC_TO_GFX_TARGET = {
    (9, 4, 3): 90402,  # MI300X/MI300A: gfx942
    (10, 3, 6): 100306,
    (10, 3, 7): 100306,
    (11, 0, 0): 110000,
    (11, 0, 1): 110003,  # Phoenix: gfx1103
    (11, 0, 2): 110002,
    (11, 0, 3): 110001,
    (11, 0, 4): 110003,  # Hawk Point: gfx1103
    (11, 5, 0): 110500,
    (11, 5, 1): 110501,
    (11, 5, 2): 110502,
    (12, 0, 1): 120001,
}

# PCI driver name -> module that registers it (None: built into Ubuntu/Debian kernels).
DRIVER_MODULES: dict[str, str | None] = {
    "amdgpu": "amdgpu",
    "nvidia": "nvidia",
    "nouveau": "nouveau",
    "i915": "i915",
    "xe": "xe",
    "ast": "ast",
    "bochs-drm": "bochs",
    "snd_hda_intel": "snd_hda_intel",
    "virtio-pci": None,
    "pcieport": None,
}

# Shapes for KFD `properties` (keys of node_show that differ per ASIC). RX 7900 XTX values
# are the tinygrad fixture quoted in the reference; the others follow their CU layouts.
KFD_SHAPES: dict[int, dict[str, int]] = {
    0x744C: dict(simd_count=192, array_count=12, simd_arrays_per_engine=2, cu_per_simd_array=8,
                 caches_count=206, num_sdma_engines=2, max_engine_clk_fcompute=2482,
                 fw_version=2140, capability=671588992, debug_prop=1495, sdma_fw_version=20),
    0x7480: dict(simd_count=64, array_count=4, simd_arrays_per_engine=2, cu_per_simd_array=8,
                 caches_count=70, num_sdma_engines=2, max_engine_clk_fcompute=2208,
                 fw_version=2140, capability=671588992, debug_prop=1495, sdma_fw_version=20),
    0x7550: dict(simd_count=128, array_count=8, simd_arrays_per_engine=2, cu_per_simd_array=8,
                 caches_count=136, num_sdma_engines=2, max_engine_clk_fcompute=2970,
                 fw_version=2400, capability=671588992, debug_prop=1495, sdma_fw_version=12),
    0x15BF: dict(simd_count=24, array_count=2, simd_arrays_per_engine=2, cu_per_simd_array=6,
                 caches_count=30, num_sdma_engines=1, max_engine_clk_fcompute=2700,
                 fw_version=2140, capability=671588992, debug_prop=1495, sdma_fw_version=18),
    0x164E: dict(simd_count=4, array_count=1, simd_arrays_per_engine=1, cu_per_simd_array=2,
                 caches_count=6, num_sdma_engines=1, max_engine_clk_fcompute=2200,
                 fw_version=111, capability=671588992, debug_prop=1495, sdma_fw_version=76),
    0x1586: dict(simd_count=80, array_count=4, simd_arrays_per_engine=2, cu_per_simd_array=10,
                 caches_count=86, num_sdma_engines=2, max_engine_clk_fcompute=2900,
                 fw_version=2460, capability=671588992, debug_prop=1495, sdma_fw_version=14),
    0x74A1: dict(simd_count=1216, array_count=32, simd_arrays_per_engine=4, cu_per_simd_array=10,
                 caches_count=512, num_sdma_engines=2, num_sdma_xgmi_engines=14,
                 wave_front_size=64, simd_per_cu=4, max_waves_per_simd=8, num_gws=64,
                 max_engine_clk_fcompute=2100, fw_version=177, capability=1012866688,
                 debug_prop=1495, sdma_fw_version=19, num_xcc=8, io_links_count=1,
                 p2p_links_count=7),
}  # fmt: skip

_GPU_NODE_KEYS = (
    "cpu_cores_count", "simd_count", "mem_banks_count", "caches_count", "io_links_count",
    "p2p_links_count", "cpu_core_id_base", "simd_id_base", "max_waves_per_simd",
    "lds_size_in_kb", "gds_size_in_kb", "num_gws", "wave_front_size", "array_count",
    "simd_arrays_per_engine", "cu_per_simd_array", "simd_per_cu", "max_slots_scratch_cu",
    "gfx_target_version", "vendor_id", "device_id", "location_id", "domain", "drm_render_minor",
    "hive_id", "num_sdma_engines", "num_sdma_xgmi_engines", "num_sdma_queues_per_engine",
    "num_cp_queues", "max_engine_clk_fcompute", "local_mem_size", "fw_version", "capability",
    "debug_prop", "sdma_fw_version", "unique_id", "num_xcc", "max_engine_clk_ccompute",
)  # fmt: skip
_CPU_NODE_KEYS = (
    *_GPU_NODE_KEYS[: _GPU_NODE_KEYS.index("num_cp_queues") + 1],
    "max_engine_clk_ccompute",
)

# (id, version_id) -> (VERSION_CODENAME, NAME, release name shown in VERSION)
_OS_CODENAMES = {
    ("ubuntu", "22.04"): ("jammy", "Ubuntu", "Jammy Jellyfish"),
    ("ubuntu", "24.04"): ("noble", "Ubuntu", "Noble Numbat"),
    ("debian", "12"): ("bookworm", "Debian GNU/Linux", "bookworm"),
    ("debian", "13"): ("trixie", "Debian GNU/Linux", "trixie"),
}


def parse_bdf(bdf: str) -> tuple[int, int, int, int]:
    """Split `dddd:bb:dd.f` into (domain, bus, device, function)."""
    if not _BDF_RE.match(bdf):
        raise ValueError(f"not a full PCI address (dddd:bb:dd.f, lower case): {bdf!r}")
    dom, bus, devfn = bdf.split(":")
    dev, fn = devfn.split(".")
    return int(dom, 16), int(bus, 16), int(dev, 16), int(fn, 16)


def pci_dev_id(bdf: str) -> int:
    """`(bus << 8) | devfn`: what KFD's `location_id` holds (kernel `pci_dev_id()`)."""
    _, bus, dev, fn = parse_bdf(bdf)
    return (bus << 8) | (dev << 3) | fn


def bdf_from_location(domain: int, location_id: int) -> str:
    """Decode KFD `domain` + `location_id` back into a PCI address."""
    bus, dev, fn = location_id >> 8 & 0xFF, location_id >> 3 & 0x1F, location_id & 7
    return f"{domain:04x}:{bus:02x}:{dev:02x}.{fn:x}"


def sysfs_link_text(link: str, target: str) -> str:
    """The relative text sysfs gives a link at host path `link` pointing to host path `target`.

    kernfs climbs from the link's folder to an ancestor of the *target's parent* and then walks
    down, so a link to an ancestor reads `../../../0000:07:00.0`, never `../..`. For any other
    pair this equals `os.path.relpath`.
    """
    base = [p for p in posixpath.dirname(link).split("/") if p]
    tparent = [p for p in posixpath.dirname(target).split("/") if p]
    common = 0
    while common < min(len(base), len(tparent)) and base[common] == tparent[common]:
        common += 1
    down = [p for p in target.split("/") if p][common:]
    return "/".join([".."] * (len(base) - common) + down)


def _hex(value: int, width: int = 4) -> str:
    return f"0x{value:0{width}x}\n"


def _gpu_id(seed: str) -> int:
    """KFD gpu_id: a stable non-zero 16-bit hash, like the kernel's."""
    return (zlib.crc32(seed.encode()) & 0xFFFF) or 1


def _unique_id(seed: str) -> int:
    return (zlib.crc32(seed.encode()) << 32) | zlib.crc32(seed[::-1].encode()) | (1 << 63)


class HostRootBuilder:
    """Lays out a host root file by file; `finish()` renders aggregates and host.json."""

    def __init__(self, root: Path, captured_at: str = DEFAULT_CAPTURED_AT) -> None:
        Path(root).mkdir(parents=True, exist_ok=True)
        self.root = Path(root).resolve()
        self._root_str = str(self.root)
        self.captured_at = captured_at
        self.kernel_release: str | None = None
        self._dirs: set[str] = set()
        self._devices: dict[str, str] = {}  # bdf -> host sysfs path
        self._gpus: dict[str, dict[str, Any]] = {}
        self._groups: dict[str, tuple[int, list[str]]] = {}
        self._users: dict[str, tuple[int, int, str, str]] = {}
        self._modules: dict[str, dict[str, Any]] = {}
        self._char_majors: dict[int, str] = {}
        self._kfd_nodes = 0
        self._kfd_major: int | None = None
        self._drivers: set[str] = set()
        self._drm_used = False
        self._host: dict[str, Any] = {}
        self._extra_host: dict[str, Any] = {}

    # ----------------------------------------------------------------- plain files
    def _abs(self, path: str) -> str:
        """Host path -> real path inside the root (a string: this runs thousands of times)."""
        rel = posixpath.normpath("/" + path).lstrip("/")
        if not rel or rel == "." or rel.startswith(".."):
            raise ValueError(f"not a path inside the root: {path!r}")
        return f"{self._root_str}/{rel}"

    def _mkdirs(self, directory: str) -> None:
        if directory not in self._dirs:
            os.makedirs(directory, exist_ok=True)
            self._dirs.add(directory)

    def write(
        self,
        path: str,
        content: str | bytes,
        mode: int | None = None,
        mtime: float | None = None,
    ) -> Path:
        """Write host path `path` (e.g. "/etc/group") inside the root, creating parents.

        An existing link at `path` is replaced, never written through (it could point out of
        the root).
        """
        target = self._abs(path)
        self._mkdirs(posixpath.dirname(target))
        if os.path.islink(target):
            os.unlink(target)
        with open(target, "wb") as fh:
            fh.write(content.encode() if isinstance(content, str) else content)
        if mode is not None:
            os.chmod(target, mode)
        if mtime is not None:
            os.utime(target, (mtime, mtime))
        return Path(target)

    def mkdir(self, path: str) -> Path:
        """Create an empty folder (sysfs has many that carry meaning by existing)."""
        target = self._abs(path)
        self._mkdirs(target)
        return Path(target)

    def symlink(self, path: str, target: str) -> None:
        """Create link `path` whose text is exactly `target` (relative or absolute)."""
        link = self._abs(path)
        self._mkdirs(posixpath.dirname(link))
        try:
            os.symlink(target, link)
        except FileExistsError:
            os.unlink(link)
            os.symlink(target, link)

    def sysfs_link(self, path: str, target: str) -> None:
        """Create a link with the relative text sysfs would give it (see `sysfs_link_text`)."""
        self.symlink(path, sysfs_link_text(path, target))

    # ----------------------------------------------------------------- system identity
    def set_kernel(
        self,
        release: str = "6.8.0-45-generic",
        cmdline: str = "BOOT_IMAGE=/vmlinuz root=/dev/sda1 ro quiet",
    ) -> None:
        """Kernel release (proc/sys/kernel/osrelease, proc/version) and boot command line."""
        self.kernel_release = release
        self.write("/proc/sys/kernel/osrelease", release + "\n")
        self.write("/proc/cmdline", cmdline + "\n")
        self.write(
            "/proc/version",
            f"Linux version {release} (builder@buildhost) (gcc 13.2.0, GNU ld 2.42) "
            "#1 SMP PREEMPT_DYNAMIC Fri Aug 30 12:02:04 UTC 2024\n",
        )
        self.mkdir(f"/lib/modules/{release}/kernel")

    def set_os_release(
        self,
        pretty: str = "Ubuntu 24.04.1 LTS",
        id: str = "ubuntu",
        version_id: str = "24.04",
    ) -> None:
        """usr/lib/os-release, with etc/os-release a relative link to it as Debian ships it."""
        codename, name, shown = _OS_CODENAMES.get((id, version_id), ("", id.capitalize(), ""))
        lines = [
            f'PRETTY_NAME="{pretty}"',
            f'NAME="{name}"',
            f'VERSION_ID="{version_id}"',
        ]
        if codename:
            version = pretty.removeprefix(name).strip() if id == "ubuntu" else version_id
            lines += [f'VERSION="{version} ({shown})"', f"VERSION_CODENAME={codename}"]
        lines.append(f"ID={id}")
        if id == "ubuntu":
            lines += ["ID_LIKE=debian", 'HOME_URL="https://www.ubuntu.com/"']
            if codename:
                lines.append(f"UBUNTU_CODENAME={codename}")
        elif id == "debian":
            lines.append('HOME_URL="https://www.debian.org/"')
        self.write("/usr/lib/os-release", "\n".join(lines) + "\n")
        self.symlink("/etc/os-release", "../usr/lib/os-release")

    def add_group(self, name: str, gid: int, members: Sequence[str] = ()) -> None:
        """A line of etc/group (rendered by finish, in the order groups were added)."""
        self._groups[name] = (gid, list(members))

    def group_gid(self, name: str) -> int | None:
        """GID of a group added so far, for device-node ownership defaults."""
        entry = self._groups.get(name)
        return entry[0] if entry else None

    def add_user(self, name: str, uid: int, gid: int, home: str | None = None) -> None:
        """A line of etc/passwd; humans get bash, system accounts nologin."""
        home = home or ("/root" if uid == 0 else f"/home/{name}")
        shell = "/bin/bash" if uid == 0 or 1000 <= uid < 60000 else "/usr/sbin/nologin"
        self._users[name] = (uid, gid, home, shell)

    def set_user(self, name: str, uid: int, gid: int, groups: Sequence[int]) -> None:
        """host.json `user`: the person being diagnosed for."""
        self._host["user"] = {"name": name, "uid": uid, "gid": gid, "groups": list(groups)}

    # ----------------------------------------------------------------- kernel modules
    def add_module(
        self,
        name: str,
        version: str | None = None,
        refcnt: int = 1,
        size: int = 12345,
        live: bool = True,
        used_by: Sequence[str] = (),
        taint: str = "",
    ) -> None:
        """A loaded module: a proc/modules line plus sys/module/<name>/{initstate,refcnt,...}.

        `taint` is what the kernel prints in parentheses: "POE" for NVIDIA's proprietary
        module, "OE" for its open module or amdgpu-dkms, "" for in-tree modules. `version`
        writes sys/module/<name>/version, which only modules declaring MODULE_VERSION have.
        """
        self._modules[name] = dict(
            size=size, refcnt=refcnt, live=live, used_by=list(used_by), taint=taint
        )
        base = f"/sys/module/{name}"
        self.write(f"{base}/initstate", "live\n" if live else "coming\n")
        self.write(f"{base}/refcnt", f"{refcnt}\n")
        self.write(f"{base}/coresize", f"{size}\n")
        self.write(f"{base}/taint", f"{taint}\n")
        self.mkdir(f"{base}/parameters")
        self.mkdir(f"{base}/holders")
        if version is not None:
            self.write(f"{base}/version", f"{version}\n")
        for holder in used_by:
            self.sysfs_link(f"{base}/holders/{holder}", f"/sys/module/{holder}")

    def add_builtin_module_dir(
        self, name: str, parameters: Mapping[str, str] | None = None
    ) -> None:
        """sys/module/<name> of a built-in module: parameters only, no initstate or refcnt."""
        self.mkdir(f"/sys/module/{name}/parameters")
        for key, value in (parameters or {}).items():
            self.write(f"/sys/module/{name}/parameters/{key}", f"{value}\n")

    def add_module_file(self, release: str, relpath: str, content: bytes = b"\x7fELF") -> None:
        """lib/modules/<release>/<relpath>: a module built (e.g. by DKMS) but maybe not loaded."""
        self.write(f"/lib/modules/{release}/{relpath}", content)

    def set_secure_boot(self, enabled: bool) -> None:
        """The efivarfs SecureBoot variable: 4 attribute bytes then one data byte."""
        self.write(SECURE_BOOT_VAR, SECURE_BOOT_ATTRIBUTES + (b"\x01" if enabled else b"\x00"))

    # ----------------------------------------------------------------- PCI
    def _device_path(self, ref: str) -> str:
        """Accept a BDF or a host sysfs path of a device added before."""
        if ref.startswith("/"):
            return ref
        if ref not in self._devices:
            raise KeyError(f"parent {ref} was not added yet")
        return self._devices[ref]

    def add_pci_device(
        self,
        bdf: str,
        vendor: int,
        device: int,
        pci_class: int,
        *,
        parent: str | None = None,
        driver: str | None = None,
        subsystem_vendor: int | None = None,
        subsystem_device: int | None = None,
        revision: int = 0x00,
        boot_vga: int | None = None,
        numa_node: int = -1,
    ) -> str:
        """A PCI function with the PCI core's attributes; returns its host sysfs path.

        With no `parent` it sits on its root bus (`/sys/devices/pci<domain>:<bus>/<bdf>`);
        `parent` (a BDF or path of a bridge added before) nests it the way bridges nest.
        """
        domain, bus, _, _ = parse_bdf(bdf)
        if parent is None:
            path = f"/sys/devices/pci{domain:04x}:{bus:02x}/{bdf}"
        else:
            path = f"{self._device_path(parent)}/{bdf}"
        self._devices[bdf] = path
        sv = vendor if subsystem_vendor is None else subsystem_vendor
        sd = 0 if subsystem_device is None else subsystem_device
        self.write(f"{path}/vendor", _hex(vendor))
        self.write(f"{path}/device", _hex(device))
        self.write(f"{path}/subsystem_vendor", _hex(sv))
        self.write(f"{path}/subsystem_device", _hex(sd))
        self.write(f"{path}/class", _hex(pci_class, 6))
        self.write(f"{path}/revision", _hex(revision, 2))
        self.write(f"{path}/enable", "1\n")
        self.write(f"{path}/numa_node", f"{numa_node}\n")
        modalias = (
            f"pci:v{vendor:08X}d{device:08X}sv{sv:08X}sd{sd:08X}"
            f"bc{pci_class >> 16:02X}sc{pci_class >> 8 & 0xFF:02X}i{pci_class & 0xFF:02X}"
        )
        self.write(f"{path}/modalias", modalias + "\n")
        uevent = [] if driver is None else [f"DRIVER={driver}"]
        uevent += [
            f"PCI_CLASS={pci_class:X}",
            f"PCI_ID={vendor:04X}:{device:04X}",
            f"PCI_SUBSYS_ID={sv:04X}:{sd:04X}",
            f"PCI_SLOT_NAME={bdf}",
            f"MODALIAS={modalias}",
        ]
        self.write(f"{path}/uevent", "\n".join(uevent) + "\n")
        if pci_class >> 8 == 0x0300:  # the PCI core shows boot_vga on VGA-class devices only
            self.write(f"{path}/boot_vga", f"{boot_vga or 0}\n")
        self.sysfs_link(f"{path}/subsystem", "/sys/bus/pci")
        self.sysfs_link(f"/sys/bus/pci/devices/{bdf}", path)
        if driver is not None:
            self._bind_driver(bdf, path, driver)
        return path

    def _bind_driver(self, bdf: str, path: str, driver: str) -> None:
        drv = f"/sys/bus/pci/drivers/{driver}"
        self.sysfs_link(f"{path}/driver", drv)
        self.sysfs_link(f"{drv}/{bdf}", path)
        if driver not in self._drivers:
            self._drivers.add(driver)
            self.write(f"{drv}/bind", "")
            self.write(f"{drv}/unbind", "")
            self.write(f"{drv}/new_id", "")
            module = DRIVER_MODULES.get(driver, driver.replace("-", "_"))
            if module is not None:
                self.sysfs_link(f"{drv}/module", f"/sys/module/{module}")
                self.sysfs_link(f"/sys/module/{module}/drivers/pci:{driver}", drv)

    def add_pci_bridge(
        self,
        bdf: str,
        parent: str | None = None,
        vendor: int = 0x1022,
        device: int = 0x14ED,
        driver: str | None = "pcieport",
    ) -> str:
        """A PCI-to-PCI bridge (root port or switch port) bound to pcieport."""
        return self.add_pci_device(
            bdf, vendor, device, 0x060400, parent=parent, driver=driver, revision=0x00
        )

    # ----------------------------------------------------------------- DRM
    def _drm_minor(self, owner: str, name: str, minor: int, connectors: Sequence[str] = ()) -> None:
        """<owner>/drm/<name> with dev/uevent/device/subsystem, plus class and dev/char links."""
        self._drm_used = True
        self._char_majors.setdefault(DRM_MAJOR, "drm")
        node = f"{owner}/drm/{name}"
        self.write(f"{node}/dev", f"{DRM_MAJOR}:{minor}\n")
        self.write(
            f"{node}/uevent",
            f"MAJOR={DRM_MAJOR}\nMINOR={minor}\nDEVNAME=dri/{name}\nDEVTYPE=drm_minor\n",
        )
        self.sysfs_link(f"{node}/device", owner)
        self.sysfs_link(f"{node}/subsystem", "/sys/class/drm")
        self.sysfs_link(f"/sys/class/drm/{name}", node)
        self.sysfs_link(f"/sys/dev/char/{DRM_MAJOR}:{minor}", node)
        for connector in connectors:
            cnode = f"{node}/{name}-{connector}"
            self.write(f"{cnode}/status", "connected\n")
            self.write(f"{cnode}/enabled", "enabled\n")
            self.sysfs_link(f"{cnode}/device", node)
            self.sysfs_link(f"/sys/class/drm/{name}-{connector}", cnode)

    def _dri_nodes(
        self,
        card: int | None,
        render: int | None,
        *,
        by_path_id: str | None,
        card_gid: int | None,
        render_gid: int | None,
        mode: str,
    ) -> None:
        video = self.group_gid("video") if card_gid is None else card_gid
        rgid = render_gid
        if rgid is None:
            rgid = self.group_gid("render") or self.group_gid("video")
        if card is not None:
            self.add_device_node(
                f"/dev/dri/card{card}", "char", DRM_MAJOR, card, mode, 0, video or 0
            )
            if by_path_id:
                self.symlink(f"/dev/dri/by-path/{by_path_id}-card", f"../card{card}")
        if render is not None:
            self.add_device_node(
                f"/dev/dri/renderD{render}", "char", DRM_MAJOR, render, mode, 0, rgid or 0
            )
            if by_path_id:
                self.symlink(f"/dev/dri/by-path/{by_path_id}-render", f"../renderD{render}")

    # ----------------------------------------------------------------- GPUs
    def add_gpu(
        self,
        bdf: str,
        vendor: int,
        device: int,
        pci_class: int = 0x030000,
        *,
        parent: str | None = None,
        driver: str | None = "amdgpu",
        card: int | None = None,
        render: int | None = None,
        subsystem_vendor: int | None = None,
        subsystem_device: int | None = None,
        revision: int = 0xC0,
        board_info: bool | None = None,
        gc_version: tuple[int, int, int] | None = None,
        vram_bytes: int | None = None,
        gtt_bytes: int | None = None,
        kfd_node: bool = False,
        gfx_target_version: int | None = None,
        nvidia_minor: int | None = None,
        nvidia_model: str | None = None,
        by_path: bool = True,
        boot_vga: int = 0,
        board_type: str = "cem",
        connectors: Sequence[str] = (),
        numa_node: int = -1,
        card_gid: int | None = None,
        render_gid: int | None = None,
        node_mode: str = "0660",
        kfd_props: Mapping[str, int] | None = None,
        vram_vendor: str | None = None,
    ) -> str:
        """A GPU as its driver exposes it; returns its host sysfs path.

        AMD (driver amdgpu): `board_info` None means "as the kernel does": present unless
        `gc_version` is an APU GC version (amdgpu hides it on APUs since 6.7); pass False for
        kernels older than 6.7. `vram_vendor` defaults to "samsung" on parts with board_info
        (hidden on APUs). A KFD node gets `drm_render_minor = render` and `location_id` from
        the BDF. NVIDIA: `nvidia_minor` writes proc/driver/nvidia/gpus/<bdf>/information.
        Device nodes: cardN owned by `card_gid` (default group video), renderDM by
        `render_gid` (default group render), both added to host.json and by-path.
        """
        path = self.add_pci_device(
            bdf, vendor, device, pci_class, parent=parent, driver=driver,
            subsystem_vendor=subsystem_vendor, subsystem_device=subsystem_device,
            revision=revision, boot_vga=boot_vga, numa_node=numa_node,
        )  # fmt: skip
        is_apu = gc_version in AMD_APU_GC_VERSIONS if gc_version else False
        unique_id = 0
        if vendor == 0x1002 and driver == "amdgpu":
            if board_info is None:
                board_info = not is_apu
            if board_info:
                self.write(f"{path}/board_info", f"type : {board_type}\n")
            if gc_version is not None:
                ip = f"{path}/ip_discovery/die/0/GC/0"
                for key, value in zip(("major", "minor", "revision"), gc_version, strict=True):
                    self.write(f"{ip}/{key}", f"{value}\n")
                self.write(f"{ip}/num_instance", "1\n")
                self.write(f"{ip}/hw_id", "11\n")
            if vram_bytes is not None:
                self.write(f"{path}/mem_info_vram_total", f"{vram_bytes}\n")
                self.write(f"{path}/mem_info_vram_used", f"{min(vram_bytes, 268435456)}\n")
                self.write(f"{path}/mem_info_vis_vram_total", f"{vram_bytes}\n")
                self.write(f"{path}/mem_info_vis_vram_used", f"{min(vram_bytes, 268435456)}\n")
            if gtt_bytes is not None:
                self.write(f"{path}/mem_info_gtt_total", f"{gtt_bytes}\n")
                self.write(f"{path}/mem_info_gtt_used", "31457280\n")
            if board_info and not is_apu:
                self.write(f"{path}/mem_info_vram_vendor", f"{vram_vendor or 'samsung'}\n")
                unique_id = _unique_id(bdf)
                self.write(f"{path}/unique_id", f"{unique_id:016x}\n")
        if card is not None:
            self._drm_minor(path, f"card{card}", card, connectors)
        if render is not None:
            self._drm_minor(path, f"renderD{render}", render)
        self._dri_nodes(
            card, render, by_path_id=f"pci-{bdf}" if by_path else None,
            card_gid=card_gid, render_gid=render_gid, mode=node_mode,
        )  # fmt: skip
        if gfx_target_version is None and gc_version is not None:
            gfx_target_version = GC_TO_GFX_TARGET.get(
                gc_version, gc_version[0] * 10000 + gc_version[1] * 100 + gc_version[2]
            )
        self._gpus[bdf] = dict(
            vendor=vendor, device=device, gfx=gfx_target_version or 0, unique_id=unique_id,
            vram=vram_bytes, is_apu=is_apu, kfd_props=dict(kfd_props or {}), path=path,
        )  # fmt: skip
        if kfd_node:
            if render is None:
                raise ValueError("a KFD node needs the render minor it points at")
            self._add_kfd_gpu_node(bdf, render, partition=None)
        if nvidia_minor is not None:
            self._nvidia_information(bdf, nvidia_minor, nvidia_model or "NVIDIA Graphics Device")
        return path

    def add_amdgpu_xcp(
        self,
        parent_bdf: str,
        xcp_index: int,
        partition: int,
        card: int,
        render: int,
        *,
        kfd_node: bool = True,
        dot_name: bool = False,
        by_path: bool = False,
        render_gid: int | None = None,
        card_gid: int | None = None,
    ) -> str:
        """An MI300-class partition device, as amdgpu's amdxcp platform driver creates it.

        The kernel always creates 7 of these per MI300 GPU (partition 0 is the PCI device's
        own DRM device), whatever the compute mode, so their minors interleave with the PCI
        devices': GPU g owns card 8g..8g+7 and renderD 128+8g..128+8g+7. They live at
        `/sys/devices/platform/amdgpu_xcp_<xcp_index>` (`amdgpu_xcp.<N>` with `dot_name`, as
        kernels before mid-2024 named them) with `drm/cardX` and `drm/renderDY`. Only a
        partition that is valid in the current mode has a KFD node; its `location_id` is the
        parent's `pci_dev_id | partition` (kfd_topology.c), its `unique_id` the parent's.
        by-path links for platform devices (`platform-amdgpu_xcp_N-render`, from udev's
        path_id) are off by default: not confirmed on hardware.
        """
        name = f"amdgpu_xcp.{xcp_index}" if dot_name else f"amdgpu_xcp_{xcp_index}"
        path = f"/sys/devices/platform/{name}"
        self.write(f"{path}/uevent", f"MODALIAS=platform:{name}\n")
        self.write(f"{path}/modalias", f"platform:{name}\n")
        self.write(f"{path}/driver_override", "(null)\n")
        self.sysfs_link(f"{path}/subsystem", "/sys/bus/platform")
        self.sysfs_link(f"/sys/bus/platform/devices/{name}", path)
        self._drm_minor(path, f"card{card}", card)
        self._drm_minor(path, f"renderD{render}", render)
        self._dri_nodes(
            card, render, by_path_id=f"platform-{name}" if by_path else None,
            card_gid=card_gid, render_gid=render_gid, mode="0660",
        )  # fmt: skip
        if kfd_node:
            self._add_kfd_gpu_node(parent_bdf, render, partition=partition)
        return path

    def add_platform_drm(
        self,
        name: str,
        card: int,
        render: int | None = None,
        driver: str | None = "simple-framebuffer",
    ) -> str:
        """A DRM device on a platform device, e.g. simpledrm's card0 on simple-framebuffer.0.

        Why: firmware framebuffers own a `cardN` (no render node, no PCI address) until a
        real driver takes over; inventory code must not take them for GPUs.
        """
        path = f"/sys/devices/platform/{name}"
        self.write(f"{path}/uevent", f"DRIVER={driver}\n" if driver else "")
        self.sysfs_link(f"{path}/subsystem", "/sys/bus/platform")
        self.sysfs_link(f"/sys/bus/platform/devices/{name}", path)
        if driver:
            self.sysfs_link(f"{path}/driver", f"/sys/bus/platform/drivers/{driver}")
            self.sysfs_link(f"/sys/bus/platform/drivers/{driver}/{name}", path)
        self._drm_minor(path, f"card{card}", card)
        if render is not None:
            self._drm_minor(path, f"renderD{render}", render)
        self._dri_nodes(
            card, render, by_path_id=f"platform-{name}", card_gid=None, render_gid=None,
            mode="0660",
        )  # fmt: skip
        return path

    def _nvidia_information(self, bdf: str, minor: int, model: str) -> None:
        gpu_uuid = uuid.uuid5(uuid.NAMESPACE_OID, f"gpudoctor-tests/{bdf}")
        fields = [
            ("Model", model),
            ("IRQ", str(180 + minor)),
            ("GPU UUID", f"GPU-{gpu_uuid}"),
            ("Video BIOS", "96.00.99.00.01"),
            ("Bus Type", "PCIe"),
            ("DMA Size", "52 bits"),
            ("DMA Mask", "0xfffffffffffff"),
            ("Bus Location", bdf),
            ("Device Minor", str(minor)),
            ("GPU Excluded", "No"),
        ]
        text = "".join(f"{key + ':':<17}{value}\n" for key, value in fields)
        self.write(f"/proc/driver/nvidia/gpus/{bdf}/information", text)

    def set_nvidia_driver(
        self, version: str, open_module: bool = False, gcc: str | None = None
    ) -> None:
        """proc/driver/nvidia/version in the two-line format of the proprietary or open module."""
        gcc = gcc or "gcc version 13.2.0 (Ubuntu 13.2.0-23ubuntu4) "
        if open_module:
            first = (
                f"NVRM version: NVIDIA UNIX Open Kernel Module for x86_64  {version}  Release "
                "Build  (dvs-builder@U22-I3-B17-02-5)  Tue Sep 23 09:55:41 UTC 2025"
            )
        else:
            first = (
                f"NVRM version: NVIDIA UNIX x86_64 Kernel Module  {version}  "
                "Fri Sep 13 10:10:01 UTC 2024"
            )
        self.write("/proc/driver/nvidia/version", f"{first}\nGCC version:  {gcc}\n")

    def add_nvidia_device_nodes(
        self,
        gpu_minors: Sequence[int],
        uvm_major: int = 509,
        modeset: bool = True,
        mode: str = "0666",
    ) -> None:
        """/dev/nvidiaN, nvidiactl, nvidia-uvm(-tools), nvidia-modeset as the driver makes them."""
        self._char_majors[NVIDIA_MAJOR] = "nvidia"
        self._char_majors[uvm_major] = "nvidia-uvm"
        for minor in gpu_minors:
            self.add_device_node(f"/dev/nvidia{minor}", "char", NVIDIA_MAJOR, minor, mode)
        self.add_device_node("/dev/nvidiactl", "char", NVIDIA_MAJOR, 255, mode)
        if modeset:
            self.add_device_node("/dev/nvidia-modeset", "char", NVIDIA_MAJOR, 254, mode)
        self.add_device_node("/dev/nvidia-uvm", "char", uvm_major, 0, mode)
        self.add_device_node("/dev/nvidia-uvm-tools", "char", uvm_major, 1, mode)

    # ----------------------------------------------------------------- KFD
    def add_kfd_device(
        self, major: int = 235, mode: str = "0660", gid: int | None = None, uid: int = 0
    ) -> None:
        """/dev/kfd (dynamic major) and its sysfs device, /sys/devices/virtual/kfd/kfd."""
        if gid is None:
            gid = self.group_gid("render") or self.group_gid("video") or 0
        self._kfd_major = major
        self._char_majors[major] = "kfd"
        base = "/sys/devices/virtual/kfd/kfd"
        self.write(f"{base}/dev", f"{major}:0\n")
        self.write(f"{base}/uevent", f"MAJOR={major}\nMINOR=0\nDEVNAME=kfd\n")
        self.sysfs_link(f"{base}/subsystem", "/sys/class/kfd")
        self.sysfs_link("/sys/class/kfd/kfd", base)
        self.sysfs_link(f"/sys/dev/char/{major}:0", base)
        self.add_device_node("/dev/kfd", "char", major, 0, mode, uid, gid)

    def add_kfd_cpu_node(
        self, cpu_cores: int = 16, core_id_base: int = 0, clk_mhz: int = 5100
    ) -> int:
        """A CPU node of the KFD topology (KFD lists CPU nodes before GPU nodes)."""
        if self._kfd_major is None:
            self.add_kfd_device()
        props = dict.fromkeys(_CPU_NODE_KEYS, 0)
        props.update(
            cpu_cores_count=cpu_cores, mem_banks_count=1, io_links_count=1,
            cpu_core_id_base=core_id_base, max_engine_clk_ccompute=clk_mhz,
        )  # fmt: skip
        return self._write_kfd_node(props, _CPU_NODE_KEYS, gpu_id=0, name="", mem_bytes=None)

    def _add_kfd_gpu_node(self, bdf: str, render_minor: int, partition: int | None) -> int:
        if self._kfd_nodes == 0:
            self.add_kfd_cpu_node()
        gpu = self._gpus[bdf]
        domain = parse_bdf(bdf)[0]
        shape = {
            "simd_count": 40, "array_count": 2, "simd_arrays_per_engine": 2,
            "cu_per_simd_array": 5, "caches_count": 50, "num_sdma_engines": 2,
            "max_engine_clk_fcompute": 2400, "fw_version": 2140, "capability": 671588992,
            "debug_prop": 1495, "sdma_fw_version": 20,
        }  # fmt: skip
        shape.update(KFD_SHAPES.get(gpu["device"], {}))
        shape.update(gpu["kfd_props"])
        location = pci_dev_id(bdf) | (partition or 0)
        props: dict[str, int] = dict.fromkeys(_GPU_NODE_KEYS, 0)
        props.update(
            mem_banks_count=1, io_links_count=1, simd_id_base=2147487744 + 16 * self._kfd_nodes,
            max_waves_per_simd=16, lds_size_in_kb=64, num_gws=64, wave_front_size=32,
            simd_per_cu=2, max_slots_scratch_cu=32, num_sdma_queues_per_engine=6,
            num_cp_queues=8, num_xcc=1, max_engine_clk_ccompute=5100,
        )  # fmt: skip
        props.update(shape)
        props.update(
            gfx_target_version=gpu["gfx"], vendor_id=gpu["vendor"], device_id=gpu["device"],
            location_id=location, domain=domain, drm_render_minor=render_minor,
            unique_id=gpu["unique_id"], local_mem_size=0,
        )  # fmt: skip
        seed = f"{bdf}/{partition}" if partition is not None else bdf
        name = "ip discovery" if gpu["vendor"] == 0x1002 else "unknown"
        return self._write_kfd_node(
            props, _GPU_NODE_KEYS, gpu_id=_gpu_id(seed), name=name, mem_bytes=gpu["vram"]
        )

    def _write_kfd_node(
        self,
        props: Mapping[str, int],
        keys: Sequence[str],
        *,
        gpu_id: int,
        name: str,
        mem_bytes: int | None,
    ) -> int:
        index = self._kfd_nodes
        self._kfd_nodes += 1
        if index == 0:
            self.write(f"{KFD_TOPOLOGY}/generation_id", "1\n")
            self.write(
                f"{KFD_TOPOLOGY}/system_properties",
                "platform_oem 0\nplatform_id 0\nplatform_rev 0\n",
            )
        node = f"{KFD_TOPOLOGY}/nodes/{index}"
        self.write(f"{node}/gpu_id", f"{gpu_id}\n")
        self.write(f"{node}/name", f"{name}\n")
        self.write(f"{node}/properties", "".join(f"{k} {int(props[k])}\n" for k in keys))
        heap = 0 if gpu_id == 0 else 1
        size = mem_bytes if mem_bytes is not None else 68719476736
        self.write(
            f"{node}/mem_banks/0/properties",
            f"heap_type {heap}\nsize_in_bytes {size}\nflags 0\nwidth 64\nmem_clk_max 2600\n",
        )
        return index

    # ----------------------------------------------------------------- host.json facts
    def add_device_node(
        self,
        path: str,
        kind: str = "char",
        major: int = 0,
        minor: int = 0,
        mode: str = "0660",
        uid: int = 0,
        gid: int = 0,
        create_file: bool = True,
    ) -> None:
        """host.json device_nodes entry; also an empty regular file at root/<path>."""
        if kind not in ("char", "block"):
            raise ValueError(f"device node type must be char or block, not {kind!r}")
        nodes = self._host.setdefault("device_nodes", {})
        nodes[path] = {
            "type": kind, "major": major, "minor": minor, "mode": mode, "uid": uid, "gid": gid
        }  # fmt: skip
        if create_file:
            self.write(path, b"")

    def add_process(
        self,
        pid: int,
        name: str,
        exe: str,
        cmdline: Sequence[str],
        uid: int = 0,
        ppid: int = 1,
        env_path: str = DEFAULT_PATH,
        create_time: float = 1795000000.0,
    ) -> None:
        """host.json processes entry (container engines and the like)."""
        self._host.setdefault("processes", []).append(
            {
                "pid": pid, "ppid": ppid, "uid": uid, "name": name, "exe": exe,
                "cmdline": list(cmdline), "env_path": env_path, "create_time": create_time,
            }
        )  # fmt: skip

    def set_docker(
        self, info: dict | None = None, version: dict | None = None, error: str | None = None
    ) -> None:
        """host.json `docker`: the Engine API's answers or the client's error (all None: drop)."""
        if error is not None:
            self._host["docker"] = {"error": error}
        elif info is None and version is None:
            self._host.pop("docker", None)
        else:
            docker: dict[str, Any] = {}
            if info is not None:
                docker["info"] = info
            if version is not None:
                docker["version"] = version
            self._host["docker"] = docker

    def add_command(
        self,
        name: str,
        argv: Sequence[str],
        stdout: str = "",
        stderr: str = "",
        returncode: int = 0,
    ) -> None:
        """host.json commands[name]: a command's recorded run."""
        self._host.setdefault("commands", {})[name] = {
            "argv": list(argv), "returncode": returncode, "stdout": stdout, "stderr": stderr
        }  # fmt: skip

    def set_host_json(self, **keys: Any) -> None:
        """Merge arbitrary top-level keys into host.json (they win over the builder's own)."""
        self._extra_host.update(keys)

    # ----------------------------------------------------------------- pci.ids
    def write_pci_ids(
        self,
        path: str = "/usr/share/misc/pci.ids",
        version: str = "2025.06.21",
        date: str = "2025-06-21 17:54:14",
        entries: Iterable[tuple[int, str, Iterable[tuple]]] | None = None,
    ) -> None:
        """A pci.ids in the real format; mtime set to its header date, as packages leave it."""
        out = [
            "#",
            "#\tList of PCI ID's",
            "#",
            f"#\tVersion: {version}",
            f"#\tDate:    {date}",
            "#",
            "#\tMaintained by Albert Pool, Martin Mares, and other volunteers from",
            "#\tthe PCI ID Project at https://pci-ids.ucw.cz/.",
            "#",
            "#\tNew data are always welcome, especially if they are accurate. If you have",
            "#\tanything to contribute, please follow the instructions at the web site.",
            "#",
            "#\tThis file can be distributed under either the GNU General Public License",
            "#\t(version 2 or higher) or the 3-clause BSD License.",
            "#",
            "",
            "# Vendors, devices and subsystems. Please keep sorted.",
            "",
            "# Syntax:",
            "# vendor  vendor_name",
            "#\tdevice  device_name\t\t\t\t<-- single tab",
            "#\t\tsubvendor subdevice  subsystem_name\t<-- two tabs",
            "",
        ]
        for vendor_id, vendor_name, devices in sorted(
            PCI_IDS_2025 if entries is None else entries, key=lambda e: e[0]
        ):
            out.append(f"{vendor_id:04x}  {vendor_name}")
            for dev in sorted(devices, key=lambda d: d[0]):
                out.append(f"\t{dev[0]:04x}  {dev[1]}")
                for sub_vendor, sub_device, sub_name in dev[2] if len(dev) > 2 else ():
                    out.append(f"\t\t{sub_vendor:04x} {sub_device:04x}  {sub_name}")
        out.append("")
        text = "\n".join(out) + "\n" + PCI_IDS_CLASS_SECTION
        stamp = datetime.strptime(date, "%Y-%m-%d %H:%M:%S").replace(tzinfo=timezone.utc)
        self.write(path, text, mode=0o644, mtime=stamp.timestamp())

    # ----------------------------------------------------------------- finish
    def finish(self) -> Path:
        """Render etc/group, etc/passwd, proc/modules, proc/devices and host.json; return root."""
        if self._groups:
            self.write(
                "/etc/group",
                "".join(f"{n}:x:{g}:{','.join(m)}\n" for n, (g, m) in self._groups.items()),
            )
        if self._users:
            self.write(
                "/etc/passwd",
                "".join(
                    f"{n}:x:{u}:{g}:{n if u >= 1000 else ''}:{h}:{s}\n"
                    for n, (u, g, h, s) in self._users.items()
                ),
            )
        if self._modules or self.kernel_release:
            lines = []
            for name, m in reversed(self._modules.items()):  # newest first, as the kernel lists
                used_by = ",".join(m["used_by"]) + "," if m["used_by"] else "-"
                state = "Live" if m["live"] else "Loading"
                taint = f" ({m['taint']})" if m["taint"] else ""
                fields = f"{name} {m['size']} {m['refcnt']} {used_by} {state}"
                lines.append(f"{fields} 0x0000000000000000{taint}\n")
            self.write("/proc/modules", "".join(lines))
        if self.kernel_release:
            base = {1: "mem", 4: "tty", 5: "/dev/tty", 10: "misc", 13: "input", 29: "fb"}
            base.update(self._char_majors)
            chars = "".join(f"{major:3d} {name}\n" for major, name in sorted(base.items()))
            self.write(
                "/proc/devices",
                f"Character devices:\n{chars}\nBlock devices:\n  7 loop\n  8 sd\n259 blkext\n",
            )
        if self._drm_used:
            self.write("/sys/class/drm/version", "drm 1.1.0 20060810\n")
        doc: dict[str, Any] = {
            "format": 1,
            "captured_at": self.captured_at,
            "captured_by": "gpudoctor-tests",
        }
        for key in ("user", "device_nodes", "processes", "docker", "commands"):
            if key in self._host:
                doc[key] = self._host[key]
        doc.update(self._extra_host)
        self.write("/.gpudoctor/host.json", json.dumps(doc, indent=2) + "\n")
        return self.root


def sample_docker_info(
    server_version: str = "28.5.1",
    runtimes: Sequence[str] = ("io.containerd.runc.v2", "runc"),
    default_runtime: str = "runc",
    cdi_spec_dirs: Sequence[str] = ("/etc/cdi", "/var/run/cdi"),
    docker_root_dir: str = "/var/lib/docker",
) -> dict[str, Any]:
    """A trimmed GET /info body with the keys the checks read, for tests that need a daemon."""
    return {
        "ID": "c0ffee00-0000-4000-8000-000000000000",
        "Containers": 0,
        "Images": 3,
        "Driver": "overlay2",
        "DockerRootDir": docker_root_dir,
        "OperatingSystem": "Ubuntu 24.04.1 LTS",
        "OSType": "linux",
        "Architecture": "x86_64",
        "ServerVersion": server_version,
        "Runtimes": {name: {"path": name} for name in runtimes},
        "DefaultRuntime": default_runtime,
        "CDISpecDirs": list(cdi_spec_dirs),
        "SecurityOptions": ["name=apparmor", "name=seccomp,profile=builtin", "name=cgroupns"],
        "CgroupDriver": "systemd",
        "CgroupVersion": "2",
    }


def sample_docker_version(version: str = "28.5.1", api: str = "1.51") -> dict[str, Any]:
    """A trimmed GET /version body."""
    return {
        "Version": version,
        "ApiVersion": api,
        "MinAPIVersion": "1.24",
        "Os": "linux",
        "Arch": "amd64",
        "KernelVersion": "6.8.0-45-generic",
        "Components": [{"Name": "Engine", "Version": version}],
    }
