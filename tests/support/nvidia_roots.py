"""Host roots for the NVIDIA host layer (issue 12), laid out the way the driver and the
distribution lay them out, each healthy one next to its broken twins.

- /proc/driver/nvidia/version in the proprietary ("NVIDIA UNIX x86_64 Kernel Module") or open
  ("NVIDIA UNIX Open Kernel Module for x86_64") wording; /sys/module/nvidia*/version;
  /proc/driver/nvidia/params as `Key: value` lines (DeviceFileMode in decimal: 438 = 0666);
  /proc/driver/nvidia/gpus/<pci>/information (by the shared builder).
- user space: /etc/ld.so.conf including /etc/ld.so.conf.d/*.conf, and in
  /usr/lib/x86_64-linux-gnu `libnvidia-ml.so.1 -> libnvidia-ml.so.<version>` and
  `libcuda.so.1 -> libcuda.so.<version>` as ldconfig links them.
- dpkg: /var/lib/dpkg/status paragraphs and /var/log/dpkg.log lines in dpkg's formats;
  unattended-upgrades' /etc/apt/apt.conf.d/20auto-upgrades and 50unattended-upgrades.
- NVSwitch: NVIDIA PCI functions of class 0x068000 (10de:22a3, H100 NVSwitch) and
  /dev/nvidia-nvswitch*; Fabric Manager's package, `systemctl is-active` and the fabric state
  `nvidia-smi --query-gpu=pci.bus_id,fabric.state,fabric.status --format=csv,noheader` prints.
- WSL2: kernel `5.15.167.4-microsoft-standard-WSL2`, /dev/dxg, /usr/lib/wsl/lib, no PCI GPU.
- kernel log lines as `journalctl -k -b -o short-iso` prints them (recorded `journalctl-kernel`)
  and `nvidia-smi -L` (recorded `nvidia-smi-L`).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from tests.support import scenarios as sc
from tests.support.hostroot import HostRootBuilder

LIB = "/usr/lib/x86_64-linux-gnu"
HGX_BUSES = (0x18, 0x2A, 0x3A, 0x5D, 0x9A, 0xAB, 0xBA, 0xDB)
SWITCH_BUSES = (0x05, 0x07, 0x09, 0x0B)
JOURNAL_ARGV = ["journalctl", "-k", "-b", "-q", "--no-pager", "-o", "short-iso", "-n", "20000"]
BENIGN_LOG = (
    "2026-02-13T09:20:01+0000 gpu-box kernel: Linux version 6.8.0-45-generic",
    "2026-02-13T09:20:05+0000 gpu-box kernel: nvidia: loading out-of-tree module taints kernel.",
    "2026-02-13T09:20:05+0000 gpu-box kernel: nvidia-nvlink: Nvlink Core is being initialized, "
    "major device number 509",
    "2026-02-13T09:20:06+0000 gpu-box kernel: NVRM: loading NVIDIA UNIX Open Kernel Module for "
    "x86_64  580.95.05  Release Build  (dvs-builder@U22-I3-B17-02-5)",
    "2026-02-13T09:20:07+0000 gpu-box kernel: nvidia-uvm: Loaded the UVM driver, major device "
    "number 510.",
)
#: the toolkit's config.toml in CDI mode, and in auto mode with load-kmods = false: nothing
#: loads nvidia_uvm on demand
CDI_CONFIG = '[nvidia-container-cli]\nload-kmods = true\n\n[nvidia-container-runtime]\n' \
             'mode = "cdi"\n'
NO_KMODS = '[nvidia-container-cli]\nload-kmods = false\n\n[nvidia-container-runtime]\n' \
           'mode = "auto"\n'
UNATTENDED_50 = """// Automatically upgrade packages from these (origin:archive) pairs
Unattended-Upgrade::Allowed-Origins {
	"${distro_id}:${distro_codename}";
	"${distro_id}:${distro_codename}-security";
	"${distro_id}ESMApps:${distro_codename}-apps-security";
	"${distro_id}ESM:${distro_codename}-infra-security";
};

// Python regular expressions, matching packages to exclude from upgrading
Unattended-Upgrade::Package-Blacklist {
%s
};
"""


def gpu_uuid(bdf: str) -> str:
    """The UUID the shared builder writes into /proc/driver/nvidia/gpus/<bdf>/information."""
    return f"GPU-{uuid.uuid5(uuid.NAMESPACE_OID, f'gpudoctor-tests/{bdf}')}"


def smi_list(buses: Sequence[int], model: str = "NVIDIA H100 80GB HBM3") -> str:
    return "".join(f"GPU {i}: {model} (UUID: {gpu_uuid(f'0000:{bus:02x}:00.0')})\n"
                   for i, bus in enumerate(buses))


@dataclass
class Spec:
    """One NVIDIA host; the defaults are a healthy HGX H100 with Fabric Manager running."""

    version: str = "580.95.05"
    open_module: bool = True
    #: user-space driver version on disk (None: the module's)
    user_version: str | None = None
    uvm_loaded: bool = True
    uvm_node: bool = True
    device_file_mode: int = 438
    device_file_gid: int = 0
    device_id: int = 0x2330
    model: str = "NVIDIA H100 80GB HBM3"
    buses: Sequence[int] = HGX_BUSES
    #: buses whose GPU the driver did not initialise (no /proc/driver/nvidia/gpus entry)
    dropped: Sequence[int] = ()
    #: buses left with no driver bound
    unbound: Sequence[int] = ()
    #: buses reserved for virtual machines (bound to vfio-pci)
    vfio: Sequence[int] = ()
    switches: int = 4
    fabric_manager: str | None = "580.95.05"  # package version; None: not installed
    fm_active: str = "active"
    fabric_state: str = "Completed"
    #: nvidia-smi -L: None lists every initialised GPU; a string is its failure message
    smi_error: str | None = None
    smi_skip: Sequence[int] = ()
    kernel_log: Sequence[str] = BENIGN_LOG
    unattended: bool = True
    blacklist: Sequence[str] = ()
    dpkg_log: Sequence[str] = ()
    toolkit_config: str | None = None
    extra: list[Callable[[HostRootBuilder], None]] = field(default_factory=list)
    #: groups the diagnosed person (alice) is in
    alice_in: Sequence[str] = ("video", "render", "docker")


def _modules(b: HostRootBuilder, spec: Spec) -> None:
    taint = "OE" if spec.open_module else "POE"
    holders = ("nvidia_uvm",) if spec.uvm_loaded else ()
    b.add_module("nvidia", version=spec.version, size=54321152, refcnt=len(holders) + 1,
                 used_by=holders, taint=taint)
    if spec.uvm_loaded:
        b.add_module("nvidia_uvm", version=spec.version, size=4927488, refcnt=0, taint=taint)
    b.set_nvidia_driver(spec.version, open_module=spec.open_module)
    mode, gid = spec.device_file_mode, spec.device_file_gid
    b.write("/proc/driver/nvidia/params", "".join(f"{k}: {v}\n" for k, v in (
        ("ResmanDebugLevel", "4294967295"), ("RmLogonRC", "1"), ("ModifyDeviceFiles", "1"),
        ("DeviceFileUID", "0"), ("DeviceFileGID", str(gid)), ("DeviceFileMode", str(mode)),
        ("InitializeSystemMemoryAllocations", "1"), ("UsePageAttributeTable", "4294967295"),
        ("EnableMSI", "1"), ("RegistryDwords", '""'), ("RegistryDwordsPerDevice", '""'),
        ("RmMsg", '""'), ("GpuBlacklist", '""'), ("TemporaryFilePath", '""'),
        ("ExcludedGpus", '""'))))


def _user_space(b: HostRootBuilder, version: str) -> None:
    b.write("/etc/ld.so.conf", "include /etc/ld.so.conf.d/*.conf\n\n")
    b.write("/etc/ld.so.conf.d/libc.conf", "# libc default configuration\n/usr/local/lib\n")
    b.write("/etc/ld.so.conf.d/x86_64-linux-gnu.conf",
            "# Multiarch support\n/usr/local/lib/x86_64-linux-gnu\n/lib/x86_64-linux-gnu\n"
            f"{LIB}\n")
    for name in ("libnvidia-ml", "libcuda"):
        b.write(f"{LIB}/{name}.so.{version}", b"\x7fELF")
        b.symlink(f"{LIB}/{name}.so.1", f"{name}.so.{version}")


def _dpkg(b: HostRootBuilder, spec: Spec, user: str) -> None:
    branch = user.split(".")[0]
    ubuntu = f"{user}-0ubuntu0.22.04.1"
    flavour = "-open" if spec.open_module else ""
    packages = [(f"nvidia-driver-{branch}{flavour}", ubuntu),
                (f"libnvidia-compute-{branch}", ubuntu), (f"nvidia-utils-{branch}", ubuntu),
                (f"nvidia-kernel-common-{branch}", ubuntu),
                (f"nvidia-dkms-{branch}{flavour}", ubuntu), ("unattended-upgrades", "2.8ubuntu1"),
                ("nvidia-container-toolkit", "1.17.8-1"),
                ("nvidia-container-toolkit-base", "1.17.8-1"),
                ("libnvidia-container-tools", "1.17.8-1"), ("libnvidia-container1", "1.17.8-1")]
    if spec.fabric_manager:
        packages.append((f"nvidia-fabricmanager-{branch}", f"{spec.fabric_manager}-1"))
    out = []
    for name, version in packages:
        out.append(f"Package: {name}\nStatus: install ok installed\nPriority: optional\n"
                   f"Section: non-free/libs\nInstalled-Size: 1024\n"
                   f"Maintainer: Ubuntu Core Developers <ubuntu-devel-discuss@lists.ubuntu.com>\n"
                   f"Architecture: amd64\nVersion: {version}\nDescription: {name}\n")
    b.write("/var/lib/dpkg/status", "\n".join(out))
    if spec.dpkg_log:
        b.write("/var/log/dpkg.log", "\n".join(spec.dpkg_log) + "\n")
    if spec.unattended:
        b.write("/etc/apt/apt.conf.d/20auto-upgrades",
                'APT::Periodic::Update-Package-Lists "1";\n'
                'APT::Periodic::Unattended-Upgrade "1";\n')
    blacklist = "\n".join(f'\t"{entry}";' for entry in spec.blacklist)
    b.write("/etc/apt/apt.conf.d/50unattended-upgrades", UNATTENDED_50 % blacklist)
    b.write("/etc/nvidia-container-runtime/config.toml", spec.toolkit_config or (
        '[nvidia-container-cli]\nenvironment = []\nldconfig = "@/sbin/ldconfig.real"\n'
        'load-kmods = true\n\n[nvidia-container-runtime]\nlog-level = "info"\nmode = "auto"\n'))


def _switches(b: HostRootBuilder, spec: Spec) -> None:
    for i, bus in enumerate(SWITCH_BUSES[:spec.switches]):
        port = f"0000:{bus - 1:02x}:00.0"
        b.add_pci_bridge(port, vendor=0x1000, device=0xC030)
        b.add_pci_device(f"0000:{bus:02x}:00.0", 0x10DE, 0x22A3, 0x068000, parent=port,
                         driver="nvidia-nvswitch", subsystem_vendor=0x10DE,
                         subsystem_device=0x1796, revision=0xA1)
        b.add_device_node(f"/dev/nvidia-nvswitch{i}", "char", 508, i, "0666")
    if spec.switches:
        b.add_device_node("/dev/nvidia-nvswitchctl", "char", 508, 255, "0666")
        b.add_command("systemctl-is-active-nvidia-fabricmanager",
                      ["systemctl", "is-active", "nvidia-fabricmanager"], spec.fm_active + "\n",
                      returncode=0 if spec.fm_active == "active" else 3)
        known = [bus for bus in spec.buses if bus not in spec.dropped]
        rows = "".join(f"00000000:{bus:02X}:00.0, {spec.fabric_state}, "
                       f"{'Success' if spec.fabric_state == 'Completed' else 'N/A'}\n"
                       for bus in known)
        b.add_command("nvidia-smi-fabric", ["nvidia-smi",
                      "--query-gpu=pci.bus_id,fabric.state,fabric.status",
                      "--format=csv,noheader"], rows)


def populate(b: HostRootBuilder, spec: Spec) -> None:
    sc._base(b, render_gid=991, pretty="Ubuntu 22.04.5 LTS", version_id="22.04",
             alice_in=spec.alice_in)
    _modules(b, spec)
    user = spec.user_version or spec.version
    _user_space(b, user)
    _dpkg(b, spec, user)
    b.add_pci_bridge("0000:00:1c.0", vendor=0x8086, device=0x1BBC)
    minor = 0
    initialised = []
    for bus in spec.buses:
        root_port = f"0000:{bus - 3:02x}:01.0"
        up, down = f"0000:{bus - 2:02x}:00.0", f"0000:{bus - 1:02x}:00.0"
        b.add_pci_bridge(root_port, vendor=0x8086, device=0x352A)
        b.add_pci_bridge(up, parent=root_port, vendor=0x1000, device=0xC030)
        b.add_pci_bridge(down, parent=up, vendor=0x1000, device=0xC030)
        known = bus not in spec.dropped and bus not in spec.unbound and bus not in spec.vfio
        driver = None if bus in spec.unbound else "vfio-pci" if bus in spec.vfio else "nvidia"
        b.add_gpu(f"0000:{bus:02x}:00.0", 0x10DE, spec.device_id, 0x030200, parent=down,
                  driver=driver, subsystem_vendor=0x10DE,
                  subsystem_device=0x16C1, revision=0xA1,
                  nvidia_minor=minor if known else None, nvidia_model=spec.model)
        if known:
            initialised.append((bus, minor))
            minor += 1
    b._char_majors[195] = "nvidia"
    for _, m in initialised:
        b.add_device_node(f"/dev/nvidia{m}", "char", 195, m, "0666")
    b.add_device_node("/dev/nvidiactl", "char", 195, 255, "0666")
    if spec.uvm_node:
        b._char_majors[510] = "nvidia-uvm"
        b.add_device_node("/dev/nvidia-uvm", "char", 510, 0, "0666")
        b.add_device_node("/dev/nvidia-uvm-tools", "char", 510, 1, "0666")
    _switches(b, spec)
    if spec.smi_error is not None:
        b.add_command("nvidia-smi-L", ["nvidia-smi", "-L"], spec.smi_error + "\n",
                      returncode=18 if "mismatch" in spec.smi_error else 15)
    else:
        buses = [bus for bus, _ in initialised if bus not in spec.smi_skip]
        b.add_command("nvidia-smi-L", ["nvidia-smi", "-L"], smi_list(buses, spec.model))
    b.add_command("journalctl-kernel", JOURNAL_ARGV, "\n".join(spec.kernel_log) + "\n")
    for change in spec.extra:
        change(b)


def build(root: Path, spec: Spec | None = None) -> Path:
    b = HostRootBuilder(root)
    populate(b, spec or Spec())
    return b.finish()


# ----- the broken and healthy hosts of issue 12 --------------------------------------------------
def mismatch_spec() -> Spec:
    """unattended-upgrades put 580.105.08 on disk last night; 580.95.05 is still loaded."""
    return Spec(user_version="580.105.08", dpkg_log=(
        "2026-02-13 06:25:14 startup archives unpack",
        "2026-02-13 06:25:15 upgrade libnvidia-compute-580:amd64 580.95.05-0ubuntu0.22.04.1 "
        "580.105.08-0ubuntu0.22.04.1",
        "2026-02-13 06:25:19 status installed libnvidia-compute-580:amd64 "
        "580.105.08-0ubuntu0.22.04.1",
    ), fabric_manager="580.105.08",
        smi_error="Failed to initialize NVML: Driver/library version mismatch\n"
                  "NVML library version: 580.105",
        kernel_log=(*BENIGN_LOG,
                    "2026-02-13T09:31:02+0000 gpu-box kernel: NVRM: API mismatch: the client "
                    "has the version 580.105.08, but\nNVRM: this kernel module has the version "
                    "580.95.05.  Please\nNVRM: make sure that this kernel module and all NVIDIA "
                    "driver\nNVRM: components have the same version."))


def blackwell_spec(open_module: bool) -> Spec:
    """A B200 host: with the proprietary 570 module the GPUs are refused."""
    log = BENIGN_LOG if open_module else (
        *BENIGN_LOG[:3],
        "2026-02-13T09:20:06+0000 gpu-box kernel: NVRM: The NVIDIA GPU 0000:18:00.0 (PCI ID: "
        "10de:2901)",
        "2026-02-13T09:20:06+0000 gpu-box kernel: NVRM: installed in this system requires use "
        "of the NVIDIA open kernel modules.",
        "2026-02-13T09:20:06+0000 gpu-box kernel: NVRM: GPU 0000:18:00.0: RmInitAdapter "
        "failed! (0x22:0x56:884)")
    return Spec(version="570.133.20", open_module=open_module, device_id=0x2901,
                model="NVIDIA B200", buses=HGX_BUSES[:2], switches=0, fabric_manager=None,
                unbound=() if open_module else HGX_BUSES[:2], kernel_log=log,
                smi_error=None if open_module else "No devices were found")


def wsl2(root: Path, *, dxg: bool = True, linux_driver: bool = False, wsl1: bool = False,
         windows_libs: bool = True) -> Path:
    """An Ubuntu 24.04 WSL2 distribution on a Windows host with an RTX 4080."""
    b = HostRootBuilder(root)
    release = "4.4.0-19041-Microsoft" if wsl1 else "5.15.167.4-microsoft-standard-WSL2"
    sc._base(b, render_gid=992)
    b.set_kernel(release, "initrd=\\initrd.img WSL_ROOT_INIT=1 panic=-1 nr_cpus=16 "
                 "hv_utils.timesync_implicit=1")
    b.write("/proc/version", f"Linux version {release} (root@f9c826d3017f) (gcc (GCC) 11.2.0, "
            "GNU ld (GNU Binutils) 2.37) #1 SMP Tue Nov 5 00:21:55 UTC 2024\n")
    b.write("/etc/ld.so.conf", "include /etc/ld.so.conf.d/*.conf\n")
    b.write("/etc/ld.so.conf.d/ld.wsl.conf",
            "# This file was automatically generated by WSL. To stop automatic generation of "
            "this file, add the following entry to /etc/wsl.conf:\n# [automount]\n"
            "# ldconfig = false\n/usr/lib/wsl/lib\n")
    if dxg and not wsl1:
        b.add_device_node("/dev/dxg", "char", 10, 125, "0666")
    if windows_libs and not wsl1:
        for name in ("libcuda.so.1", "libnvidia-ml.so.1", "libdxcore.so", "nvidia-smi"):
            b.write(f"/usr/lib/wsl/lib/{name}", b"\x7fELF", mode=0o555)
        b.add_command("nvidia-smi-L", ["/usr/lib/wsl/lib/nvidia-smi", "-L"],
                      "GPU 0: NVIDIA GeForce RTX 4080 (UUID: "
                      "GPU-5a2b7f0e-9c1d-4e8a-b3f6-0d7c2e9a1b44)\n")
    status = "\n".join(f"Package: {name}\nStatus: install ok installed\nArchitecture: amd64\n"
                       "Version: 1.17.8-1\n" for name in (
                           "nvidia-container-toolkit", "nvidia-container-toolkit-base",
                           "libnvidia-container-tools", "libnvidia-container1"))
    if linux_driver:
        status += ("\nPackage: nvidia-driver-550\nStatus: install ok installed\n"
                   "Architecture: amd64\nVersion: 550.144.03-0ubuntu0.24.04.1\n"
                   "\nPackage: libnvidia-compute-550\nStatus: install ok installed\n"
                   "Architecture: amd64\nVersion: 550.144.03-0ubuntu0.24.04.1\n")
        b.write("/etc/ld.so.conf.d/x86_64-linux-gnu.conf", f"{LIB}\n")
        for name in ("libnvidia-ml", "libcuda"):
            b.write(f"{LIB}/{name}.so.550.144.03", b"\x7fELF")
            b.symlink(f"{LIB}/{name}.so.1", f"{name}.so.550.144.03")
    b.write("/var/lib/dpkg/status", status)
    return b.finish()


# ----- the named roots of the issue-12 tests (tests/test_nvidia_host*.py, tests/checks/) ---------
XID_LOG = (*BENIGN_LOG,
           "2026-02-13T09:28:40+0000 gpu-box kernel: NVRM: Xid (PCI:0000:18:00): 79, pid=2871, "
           "name=python3, GPU has fallen off the bus.",
           "2026-02-13T09:28:40+0000 gpu-box kernel: NVRM: GPU 0000:18:00.0: GPU has fallen off "
           "the bus.",
           "2026-02-13T09:29:02+0000 gpu-box kernel: NVRM: Xid (PCI:0000:18:00): 79, pid=2871, "
           "name=python3, GPU has fallen off the bus.")


def nvidia_modprobe(b: HostRootBuilder) -> None:
    b.write("/usr/bin/nvidia-modprobe", b"\x7fELF", mode=0o4755)


def excluded_ba(b: HostRootBuilder) -> None:
    """GPU 0000:ba:00.0 excluded from NVML by the admin (NVreg_ExcludedGpus)."""
    info = b.root / "proc/driver/nvidia/gpus/0000:ba:00.0/information"
    info.write_text(info.read_text().replace("GPU Excluded:    No", "GPU Excluded:    Yes"))


def cdi_spec(b: HostRootBuilder) -> None:
    from tests.support.container_roots import nvidia_cdi_yaml

    b.write("/etc/cdi/nvidia.yaml", nvidia_cdi_yaml("580.95.05", 8))


def with_(spec: Spec, **changes: object) -> Spec:
    for key, value in changes.items():
        setattr(spec, key, value)
    return spec


NAMED: dict[str, Callable[[Path], Path]] = {
    "healthy": lambda r: build(r),
    "mismatch": lambda r: build(r, mismatch_spec()),
    "mismatch_blacklisted": lambda r: build(r, with_(mismatch_spec(),
                                                     blacklist=("nvidia-", "libnvidia-"))),
    "uvm_cdi": lambda r: build(r, Spec(uvm_loaded=False, uvm_node=False,
                                       toolkit_config=CDI_CONFIG, extra=[nvidia_modprobe])),
    "uvm_no_kmods": lambda r: build(r, Spec(uvm_loaded=False, uvm_node=False,
                                            toolkit_config=NO_KMODS)),
    "uvm_cdi_spec": lambda r: build(r, Spec(uvm_loaded=False, uvm_node=False,
                                            extra=[cdi_spec])),
    "uvm_on_demand": lambda r: build(r, Spec(uvm_loaded=False, uvm_node=False)),
    "params_video": lambda r: build(r, Spec(device_file_mode=432, device_file_gid=44)),
    "params_video_outsider": lambda r: build(r, Spec(device_file_mode=432, device_file_gid=44,
                                                     alice_in=("docker",))),
    "blackwell_proprietary": lambda r: build(r, blackwell_spec(open_module=False)),
    "blackwell_vfio": lambda r: build(r, with_(blackwell_spec(open_module=False), unbound=(),
                                               vfio=HGX_BUSES[:2], kernel_log=BENIGN_LOG,
                                               smi_error=None)),
    "blackwell_open": lambda r: build(r, blackwell_spec(open_module=True)),
    "fm_missing": lambda r: build(r, Spec(fabric_manager=None)),
    "fm_inactive": lambda r: build(r, Spec(fm_active="inactive")),
    "fm_other_version": lambda r: build(r, Spec(fabric_manager="580.82.07")),
    "fabric_in_progress": lambda r: build(r, Spec(fabric_state="In Progress")),
    "no_nvswitch": lambda r: build(r, Spec(switches=0, fabric_manager=None)),
    "wsl2": lambda r: wsl2(r),
    "wsl2_linux_driver": lambda r: wsl2(r, linux_driver=True),
    "wsl2_no_dxg": lambda r: wsl2(r, dxg=False),
    "wsl1": lambda r: wsl2(r, wsl1=True),
    "xid": lambda r: build(r, Spec(kernel_log=XID_LOG)),
    "dropped": lambda r: build(r, Spec(dropped=(0xDB,))),
    "smi_missing": lambda r: build(r, Spec(smi_skip=(0xBA,))),
    "smi_excluded": lambda r: build(r, Spec(smi_skip=(0xBA,), extra=[excluded_ba])),
}
