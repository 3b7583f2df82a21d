"""The NVIDIA driver as the host has it: the loaded kernel module and the user-space driver.

Why: "Failed to initialize NVML: Driver/library version mismatch", a missing /dev/nvidia-uvm
and GPUs the proprietary module will not drive all come from the driver, not from Docker, and
the error a container prints names none of it. These facts are read once and shared by the
nvidia.* checks and the nvidia.load_uvm fix, so each decision is made in one place.

Sources, as the driver lays them out: /proc/driver/nvidia/version (two lines: "NVRM version:
NVIDIA UNIX x86_64 Kernel Module  550.120 ..." for the proprietary module, "NVRM version:
NVIDIA UNIX Open Kernel Module for x86_64  580.95.05 ..." for the open one),
/sys/module/nvidia/version, /proc/driver/nvidia/params ("DeviceFileMode: 438" lines),
/proc/driver/nvidia/gpus/<pci>/information, the `libnvidia-ml.so.<version>` and
`libcuda.so.<version>` files in the folders ld.so.conf names, dpkg's status and log, and APT's
unattended-upgrades configuration.
"""

from __future__ import annotations

import fnmatch
import re

from gpudoctor import TYPE_CHECKING
from gpudoctor.errors import HostError
from gpudoctor.facts.system import nvidia_module_version
from gpudoctor.facts.wsl import WSL_LIB_DIR
from gpudoctor.record import field, record

if TYPE_CHECKING:
    from gpudoctor.facts import Facts
    from gpudoctor.facts.gpus import Gpu
    from gpudoctor.host.base import Host

PROC_VERSION = "/proc/driver/nvidia/version"
PROC_PARAMS = "/proc/driver/nvidia/params"
PROC_GPUS = "/proc/driver/nvidia/gpus"
DPKG_STATUS = "/var/lib/dpkg/status"
DPKG_LOG = "/var/log/dpkg.log"
APT_CONF_D = "/etc/apt/apt.conf.d"
#: The defaults the driver uses when no option changes them (nv-linux: NV_DEVICE_FILE_MODE).
DEFAULT_FILE_MODE = 0o666
#: Folders the dynamic loader searches without being told (plus Debian's multiarch ones).
TRUSTED_LIB_DIRS = ("/lib", "/usr/lib", "/lib64", "/usr/lib64", "/lib/x86_64-linux-gnu",
                    "/usr/lib/x86_64-linux-gnu", "/lib/aarch64-linux-gnu",
                    "/usr/lib/aarch64-linux-gnu")
#: Where the GPU Operator's driver container puts the driver (toolkit `root` setting).
DRIVER_CONTAINER_ROOT = "/run/nvidia/driver"
CONTAINER_LIB_DIRS = ("/usr/lib/x86_64-linux-gnu", "/usr/lib64", "/usr/lib/aarch64-linux-gnu")
#: Patterns are compiled on first use (re caches them): an AMD host imports this module for
#: the re-exported preconditions and never matches any of them.
_LIB_RE = r"^(libnvidia-ml|libcuda)\.so\.(\d{3,}\.\d+(?:\.\d+)?)$"
_DRIVER_VERSION_RE = r"^(?:\d+:)?(\d{3,}\.\d+(?:\.\d+)?)"
#: Driver packages (Debian/Ubuntu archive names and NVIDIA's CUDA repository names); the
#: container toolkit's own packages are not the driver.
_DRIVER_PACKAGE_RE = (
    r"^(nvidia-driver(-\d+)?(-server)?(-open)?|nvidia-open(-\d+)?|libnvidia-compute-\d+(-server)?"
    r"|nvidia-utils-\d+(-server)?|nvidia-dkms-\d+(-server)?(-open)?"
    r"|nvidia-kernel-common-\d+(-server)?|nvidia-kernel-source-\d+(-server)?(-open)?"
    r"|linux-modules-nvidia-\d+(-server)?(-open)?-.+|libnvidia-gl-\d+(-server)?"
    r"|cuda-drivers(-\d+)?|nvidia-kernel-dkms|nvidia-open-kernel-dkms|libnvidia-ml1|libcuda1"
    r"|nvidia-fabricmanager(-\d+)?)$")
_PACKAGE_HEAD = (r"^Package: ((?:nvidia|libnvidia|libcuda|cuda-drivers|linux-modules-"
                 r"nvidia)[^\s]*)\n")


@record(frozen=True)
class DriverPackage:
    """An NVIDIA driver package as dpkg or rpm records it."""

    name: str
    version: str  # the package version as dpkg records it
    status: str

    @property
    def installed(self) -> bool:
        return self.status.endswith(" installed")

    @property
    def held(self) -> bool:
        return self.status.startswith("hold ")

    @property
    def driver_version(self) -> str | None:
        match = re.match(_DRIVER_VERSION_RE, self.version)
        return match.group(1) if match else None


@record(frozen=True)
class UserLib:
    """A user-space driver library on disk and its version."""

    path: str
    name: str  # libnvidia-ml or libcuda
    version: str


@record(frozen=True)
class DriverGpu:
    """One GPU the driver initialised: /proc/driver/nvidia/gpus/<pci>/information."""

    pci: str
    model: str | None
    uuid: str | None
    minor: int | None
    #: "GPU Excluded: Yes": the admin kept it from NVML (NVreg_ExcludedGpus)
    excluded: bool = False


@record
class Unattended:
    """APT's unattended-upgrades as it applies to the driver packages."""

    installed: bool = False
    enabled: bool = False
    enabled_by: str = ""
    blacklist: list[str] = field(default_factory=list)
    blacklist_file: str = ""

    def covers(self, package: str) -> bool:
        """True when unattended-upgrades would upgrade `package` (not blacklisted)."""
        return self.installed and self.enabled and not any(
            re.match(entry, package) for entry in self.blacklist if _valid_regex(entry))


@record
class NvidiaDriver:
    """The loaded nvidia module, its parameters, and the user-space driver."""

    loaded: bool = False
    uvm_loaded: bool = False
    module_version: str | None = None
    module_source: str | None = None
    #: "open", "proprietary" or None when /proc/driver/nvidia/version is not there.
    flavour: str | None = None
    proc_version_line: str | None = None
    params: dict[str, str] = field(default_factory=dict)
    gpus: list[DriverGpu] = field(default_factory=list)
    lib_dirs: list[str] = field(default_factory=list)
    #: False on a host root that did not record /etc/ld.so.conf: its libraries are unknown.
    libs_known: bool = True
    libs: list[UserLib] = field(default_factory=list)
    packages: dict[str, DriverPackage] = field(default_factory=dict)
    #: The last dpkg.log line that installed or upgraded a driver package.
    last_upgrade: str | None = None
    unattended: Unattended = field(default_factory=Unattended)

    @property
    def package_versions(self) -> dict[str, list[str]]:
        seen: dict[str, list[str]] = {}
        for pkg in self.packages.values():
            if pkg.installed and pkg.driver_version and not pkg.name.startswith(
                    ("nvidia-fabricmanager", "nvidia-fabric-manager")):
                seen.setdefault(pkg.driver_version, []).append(f"{pkg.name} {pkg.version}")
        return seen

    def param_int(self, key: str) -> int | None:
        raw = self.params.get(key)
        return int(raw) if raw is not None and raw.strip().lstrip("-").isdigit() else None

    @property
    def installed_packages(self) -> list[DriverPackage]:
        return [p for p in self.packages.values() if p.installed]


def _valid_regex(text: str) -> bool:
    try:
        re.compile(text)
    except re.error:
        return False
    return True


# ----- reading -----------------------------------------------------------------------------------
def _read(host: Host, path: str, limit: int = 1024 * 1024) -> str | None:
    try:
        return host.read_optional(path, limit)
    except HostError:
        return None


def parse_params(text: str) -> dict[str, str]:
    """`Key: value` lines of /proc/driver/nvidia/params."""
    params: dict[str, str] = {}
    for line in text.splitlines():
        key, sep, value = line.partition(":")
        if sep and key.strip() and " " not in key.strip():
            params[key.strip()] = value.strip().strip('"')
    return params


def flavour_of(line: str) -> str | None:
    if "Open Kernel Module" in line:
        return "open"
    if "Kernel Module" in line:
        return "proprietary"
    return None


def read_driver_gpus(host: Host) -> list[DriverGpu]:
    gpus: list[DriverGpu] = []
    try:
        names = host.listdir(PROC_GPUS)
    except HostError:
        return gpus
    for name in names:
        text = _read(host, f"{PROC_GPUS}/{name}/information") or ""
        fields = parse_params(text.replace("GPU UUID:", "GPU_UUID:")
                              .replace("Device Minor:", "Device_Minor:")
                              .replace("GPU Excluded:", "GPU_Excluded:"))
        minor = fields.get("Device_Minor")
        gpus.append(DriverGpu(pci=name.lower(), model=fields.get("Model"),
                              uuid=fields.get("GPU_UUID"),
                              minor=int(minor) if minor and minor.isdigit() else None,
                              excluded=fields.get("GPU_Excluded", "").lower() == "yes"))
    return gpus


def ld_so_dirs(host: Host) -> list[str]:
    """The folders the dynamic loader searches, in ldconfig's order: ld.so.conf with each
    `include` read where it stands (relative patterns from the including file's folder), then
    the trusted defaults (what `ldconfig` builds /etc/ld.so.cache from)."""
    found: list[str] = []
    seen: set[str] = set()

    def read_conf(path: str, depth: int) -> None:
        if path in seen or depth > 8 or len(seen) > 200:
            return
        seen.add(path)
        for raw in (_read(host, path) or "").splitlines():
            line = raw.split("#", 1)[0].strip()
            if line.startswith("include") and line[7:8].isspace():
                for pattern in line.split()[1:]:
                    if not pattern.startswith("/"):
                        pattern = path.rsplit("/", 1)[0] + "/" + pattern
                    folder, _, glob = pattern.rpartition("/")
                    try:
                        names = host.listdir(folder or "/")
                    except HostError:
                        names = []
                    for name in sorted(n for n in names if fnmatch.fnmatch(n, glob)):
                        read_conf(f"{folder}/{name}", depth + 1)
            elif line.startswith("/") and (line.rstrip("/") or "/") not in found:
                found.append(line.rstrip("/") or "/")

    read_conf("/etc/ld.so.conf", 0)
    for folder in TRUSTED_LIB_DIRS:
        if folder not in found:
            found.append(folder)
    return found


def find_user_libs(host: Host, folders: list[str]) -> list[UserLib]:
    """`libnvidia-ml.so.1` and `libcuda.so.1` in each loader folder, with the versioned file
    each link leads to (ldconfig points them at the installed driver's `.so.<version>`).

    Only these names are asked for, never whole library folders, so a snapshot stays small.
    """
    libs: list[UserLib] = []
    seen: set[str] = set()
    for folder in folders:
        if folder.startswith(WSL_LIB_DIR):
            continue  # the Windows driver's libraries carry no Linux driver version
        for soname in ("libnvidia-ml.so.1", "libcuda.so.1"):
            path = f"{folder}/{soname}"
            try:
                if host.readlink(path) is None:
                    continue
                real = host.realpath(path)
            except HostError:
                continue
            match = re.match(_LIB_RE, real.rsplit("/", 1)[-1])
            if match is None or real in seen or not host.exists(real):
                continue  # a dangling link, or one found twice (/lib -> usr/lib)
            seen.add(real)
            libs.append(UserLib(f"{path} -> {real}", match.group(1), match.group(2)))
    return libs


def read_driver_packages(host: Host) -> dict[str, DriverPackage]:
    text = _read(host, DPKG_STATUS, 64 * 1024 * 1024)
    found: dict[str, DriverPackage] = {}
    if not text:
        return found
    for match in re.finditer(_PACKAGE_HEAD, text, re.MULTILINE):
        name = match.group(1)
        if not re.match(_DRIVER_PACKAGE_RE, name):
            continue
        end = text.find("\n\n", match.start())
        fields = parse_params(text[match.start(): end if end >= 0 else len(text)])
        pkg = DriverPackage(name, fields.get("Version", ""), fields.get("Status", ""))
        if name not in found or (pkg.installed and not found[name].installed):
            found[name] = pkg
    return found


#: rpm globs of NVIDIA's driver packages (CUDA repository, RPM Fusion, RHEL's precompiled).
RPM_GLOBS = ("nvidia-driver*", "kmod-nvidia*", "cuda-drivers*", "nvidia-fabric*",
             "xorg-x11-drv-nvidia*", "libnvidia-ml*", "nvidia-open*")
CMD_RPM = "rpm-nvidia-driver"


def read_rpm_packages(host: Host) -> dict[str, DriverPackage]:
    """The driver packages rpm knows (recorded as `rpm-nvidia-driver`); {} without rpm."""
    if host.live and host.which("rpm", "/usr/bin:/bin:/usr/sbin:/sbin") is None:
        return {}
    result = host.run(CMD_RPM, ["rpm", "-qa", "--qf", "%{NAME} %{VERSION}-%{RELEASE}\\n",
                                *RPM_GLOBS], 15.0)
    found: dict[str, DriverPackage] = {}
    if result is None or not result.ok:
        return found
    for line in result.stdout.splitlines():
        parts = line.split()
        if len(parts) == 2 and not parts[0].startswith("libnvidia-container"):
            found[parts[0]] = DriverPackage(parts[0], parts[1], "install ok installed")
    return found


def package_installed(host: Host, name: str) -> bool:
    """Whether dpkg records `name` as installed (for packages outside the driver set)."""
    text = _read(host, DPKG_STATUS, 64 * 1024 * 1024) or ""
    match = re.search(rf"^Package: {re.escape(name)}\n(?:[^\n]+\n)*?Status: ([^\n]+)", text,
                      re.MULTILINE)
    return bool(match and match.group(1).endswith(" installed"))


def last_driver_upgrade(host: Host) -> str | None:
    text = _read(host, DPKG_LOG, 64 * 1024 * 1024)
    if not text:
        return None
    last = None
    for match in re.finditer(r"^\S+ \S+ (?:upgrade|install) (\S+?)(?::\S+)? \S+ \S+$", text,
                             re.MULTILINE):
        if re.match(_DRIVER_PACKAGE_RE, match.group(1)):
            last = match.group(0)
    return last


def read_unattended(host: Host) -> Unattended:
    state = Unattended(installed=package_installed(host, "unattended-upgrades"))
    try:
        names = host.listdir(APT_CONF_D)
    except HostError:
        names = []
    for name in names:  # apt reads them in this (sorted) order; the last setting wins
        path = f"{APT_CONF_D}/{name}"
        text = _strip_apt_comments(_read(host, path) or "")
        for match in re.finditer(r'APT::Periodic::Unattended-Upgrade\s+"(\d+)"\s*;', text):
            state.enabled = match.group(1) != "0"
            state.enabled_by = f'{path}: APT::Periodic::Unattended-Upgrade "{match.group(1)}"'
        block = re.search(r"Unattended-Upgrade::Package-Blacklist\s*\{(.*?)\}\s*;", text, re.S)
        if block:
            state.blacklist = re.findall(r'"([^"]*)"', block.group(1))
            state.blacklist_file = path
    return state


def _strip_apt_comments(text: str) -> str:
    text = re.sub(r"/\*.*?\*/", "", text, flags=re.S)
    return "\n".join(re.sub(r"(^|\s)(//|#).*$", "", line) for line in text.splitlines())


def inspect_driver(facts: Facts) -> NvidiaDriver:
    """Everything above, read once per run."""
    host = facts.host
    driver = NvidiaDriver(loaded="nvidia" in facts.modules,
                          uvm_loaded="nvidia_uvm" in facts.modules)
    text = _read(host, PROC_VERSION)
    if text:
        first = text.splitlines()[0] if text.splitlines() else ""
        driver.proc_version_line = first.strip()
        driver.flavour = flavour_of(first)
    if driver.loaded or text:
        driver.module_version, driver.module_source = nvidia_module_version(host)
    params = _read(host, PROC_PARAMS)
    if params:
        driver.params = parse_params(params)
    driver.gpus = read_driver_gpus(host)
    driver.lib_dirs = ld_so_dirs(host)
    driver.libs_known = host.live or host.exists("/etc/ld.so.conf")
    driver.libs = find_user_libs(host, driver.lib_dirs) or find_user_libs(
        host, [DRIVER_CONTAINER_ROOT + d for d in CONTAINER_LIB_DIRS])
    driver.packages = read_driver_packages(host) or read_rpm_packages(host)
    driver.last_upgrade = last_driver_upgrade(host) if driver.packages else None
    if driver.packages:
        driver.unattended = read_unattended(host)
    return driver


def driver_branch(version: str | None) -> str | None:
    """'570.133.20' -> '570' (the branch distribution packages are named after)."""
    return version.split(".", 1)[0] if version else None


#: NVIDIA assigns PCI device ids in order: Blackwell (GB1xx/GB2xx) starts at 0x2900, Turing
#: (the oldest the open modules support) at 0x1E00.
FIRST_OPEN_ONLY_DEVICE = 0x2900
FIRST_OPEN_CAPABLE_DEVICE = 0x1E00


def wrong_flavour_gpus(facts: Facts) -> tuple[str, list[Gpu]]:
    """NVIDIA GPUs the loaded module's flavour cannot drive: ("open", gpus) when they need the
    open modules and the proprietary one is loaded, ("proprietary", gpus) for pre-Turing GPUs
    under the open module; ("", []) otherwise. kernel.driver points here for them."""
    driver = facts.nvidia_driver
    if not driver.loaded or driver.flavour is None:
        return "", []
    # GPUs another driver holds (vfio-pci for a VM, nouveau) are kernel.driver's business
    nvidia = [g for g in facts.gpus.by_vendor("nvidia", selected_only=False)
              if g.driver in (None, "nvidia")]
    if driver.flavour == "proprietary":
        # Blackwell+ under the proprietary module: unbound, or bound and "RmInitAdapter failed"
        said = bool(facts.nvidia_kernel_log.hits.get("open_modules_required"))
        needs = [g for g in nvidia if g.device_id >= FIRST_OPEN_ONLY_DEVICE
                 or (said and g.driver is None)]
        return ("open", needs) if needs else ("", [])
    old = [g for g in nvidia if g.device_id < FIRST_OPEN_CAPABLE_DEVICE]
    return ("proprietary", old) if old else ("", [])


def user_space_version(driver: NvidiaDriver) -> tuple[str | None, str]:
    """The driver version user space will load (libnvidia-ml.so.1 first), and from where."""
    for name in ("libnvidia-ml", "libcuda"):
        for lib in driver.libs:
            if lib.name == name:
                return lib.version, lib.path
    versions = driver.package_versions
    if len(versions) == 1:
        version, where = next(iter(versions.items()))
        return version, "package " + ", ".join(where)
    return None, ""


def version_mismatch(driver: NvidiaDriver) -> tuple[str, str, str] | None:
    """(module version, user-space version, where) when they differ: the one place this is
    decided (nvidia.driver_mismatch reports it; nvidia.gpu_count, nvidia.fabric_manager and
    kernel.log point there)."""
    if not driver.loaded or not driver.module_version:
        return None
    user, where = user_space_version(driver)
    if user is None or user == driver.module_version:
        return None
    return driver.module_version, user, where
