"""System facts: os-release, kernel modules, groups, Secure Boot, char device majors."""

from __future__ import annotations

import re

from gpudoctor.errors import HostError
from gpudoctor.host.base import Host
from gpudoctor.record import field, record

SECURE_BOOT_VAR = (
    "/sys/firmware/efi/efivars/SecureBoot-8be4df61-93ca-11d2-aa0d-00e098032b8c"
)


def os_release(host: Host) -> dict[str, str]:
    """Parse /etc/os-release (falling back to /usr/lib/os-release) into a dict.

    The one reader of os-release: the report's `host.os` and the install fix's package family
    both come from here, through the host layer (so a snapshot records it and an archive root
    answers it). Not the `distro` package: it reads the disk directly, which bypasses the host
    layer, and costs 5-15 ms of import on the `--json` path.
    """
    for path in ("/etc/os-release", "/usr/lib/os-release"):
        text = host.read_attr(path)
        if text is None:
            continue
        return parse_os_release(text)
    return {}


def parse_os_release(text: str) -> dict[str, str]:
    """os-release's `KEY=value` lines, values unquoted as a shell would (os-release(5) allows
    single and double quotes and backslash escapes); a malformed line is skipped, not fatal."""
    import shlex

    values: dict[str, str] = {}
    for line in text.splitlines():
        key, sep, value = line.partition("=")
        key = key.strip()
        if not sep or not key or key.startswith("#"):
            continue
        try:
            words = shlex.split(value, comments=False, posix=True)
        except ValueError:  # an unclosed quote: keep what is there
            words = [value.strip().strip("\"'")]
        values[key] = " ".join(words)
    return values


@record(frozen=True)
class KernelModule:
    """One line of /proc/modules."""

    name: str
    size: int
    refcount: int
    used_by: tuple[str, ...]
    state: str  # Live, Loading, Unloading
    version: str | None = None
    #: Taint flags the kernel prints in parentheses: "POE" for NVIDIA's proprietary module.
    taint: str = ""


def loaded_modules(host: Host) -> dict[str, KernelModule]:
    """Modules listed in /proc/modules ("name size refcnt deps state addr")."""
    try:
        text = host.read_text("/proc/modules")
    except HostError:
        return {}
    modules: dict[str, KernelModule] = {}
    for line in text.splitlines():
        parts = line.split()
        if len(parts) < 5:
            continue
        name = parts[0]
        try:
            size, ref = int(parts[1]), int(parts[2]) if parts[2].isdigit() else 0
        except ValueError:
            continue
        used = tuple(u for u in parts[3].split(",") if u and u != "-")
        taint = parts[6].strip("()") if len(parts) > 6 and parts[6].startswith("(") else ""
        modules[name] = KernelModule(name, size, ref, used, parts[4], taint=taint)
    return modules


def module_version(host: Host, name: str) -> str | None:
    return host.read_attr(f"/sys/module/{name}/version")


def module_state(host: Host, name: str) -> str | None:
    """/sys/module/<name>/initstate ("live", "coming", "going"); "builtin" for a module built
    into the kernel (its folder exists without initstate); None when it is not there at all."""
    state = host.read_attr(f"/sys/module/{name}/initstate")
    if state:
        return state
    try:
        return "builtin" if host.is_dir(f"/sys/module/{name}") else None
    except HostError:
        return None


def kernel_cmdline(host: Host) -> list[str]:
    """The words of /proc/cmdline."""
    return (host.read_attr("/proc/cmdline") or "").split()


#: Where modprobe reads its configuration, in its own order of precedence.
MODPROBE_DIRS = ("/etc/modprobe.d", "/run/modprobe.d", "/usr/local/lib/modprobe.d",
                 "/lib/modprobe.d", "/usr/lib/modprobe.d")


def modprobe_lines(host: Host, module: str) -> list[tuple[str, str]]:
    """(file, line) of every modprobe.d `blacklist`, `install` or `options` line for module.

    Evidence for "nouveau is blacklisted but still loaded" (initramfs not rebuilt) and the
    like; unreadable files are passed over.
    """
    found: list[tuple[str, str]] = []
    wanted = {module, module.replace("_", "-")}
    for folder in MODPROBE_DIRS:
        try:
            names = host.listdir(folder)
        except HostError:
            continue
        for name in names:
            if not name.endswith(".conf"):
                continue
            path = f"{folder}/{name}"
            text = host.read_attr(path)
            if not text:
                continue
            for line in text.splitlines():
                words = line.split()
                if (len(words) >= 2 and words[0] in ("blacklist", "install", "options")
                        and words[1] in wanted):
                    found.append((path, line.strip()))
    return found


#: Module file names the kernel loads (plain, or compressed by the distribution).
MODULE_SUFFIXES = (".ko", ".ko.xz", ".ko.zst", ".ko.gz")
_MAX_WALK = 20000


def find_module_file(host: Host, release: str, name: str) -> str | None:
    """Path of <name>.ko(.xz/.zst/.gz) built for kernel `release`, or None.

    modules.dep names every module depmod saw (DKMS runs depmod); a bounded walk of
    /lib/modules/<release> finds one built or copied without depmod.
    """
    base = f"/lib/modules/{release}"
    files = {name + suffix for suffix in MODULE_SUFFIXES}
    dep = _read_quiet(host, f"{base}/modules.dep")
    if dep:
        for line in dep.splitlines():
            path = line.split(":", 1)[0]
            if path.rsplit("/", 1)[-1] in files:
                return f"{base}/{path}"
    pending = [base]
    seen = 0
    while pending and seen < _MAX_WALK:
        folder = pending.pop()
        try:
            entries = host.listdir(folder)
        except HostError:
            continue
        for entry in entries:
            seen += 1
            if entry in files:
                return f"{folder}/{entry}"
            if entry in ("build", "source") or "." in entry:
                continue  # links to kernel sources, and files such as modules.alias
            pending.append(f"{folder}/{entry}")
    return None


def _read_quiet(host: Host, path: str) -> str | None:
    try:
        return host.read_text(path, 16 * 1024 * 1024)
    except HostError:
        return None


_NVIDIA_VERSION_RE = re.compile(r"(?<![\d.])(\d{3,}\.\d+(?:\.\d+)?)(?![\d.])")


def parse_nvidia_version(text: str) -> str | None:
    """The driver version in /proc/driver/nvidia/version's NVRM line (e.g. 550.120).

    The first number on the line can sit inside `x86_64`, so take the first token shaped like
    a driver version: three or more digits, a dot, digits, optionally one more dot part.
    """
    for line in text.splitlines():
        if line.startswith("NVRM"):
            match = _NVIDIA_VERSION_RE.search(line)
            if match:
                return match.group(1)
    match = _NVIDIA_VERSION_RE.search(text)
    return match.group(1) if match else None


def nvidia_module_version(host: Host) -> tuple[str | None, str | None]:
    """(version, where it was read) of the loaded nvidia kernel module."""
    version = host.read_attr("/sys/module/nvidia/version")
    if version and _NVIDIA_VERSION_RE.search(version):
        return version, "/sys/module/nvidia/version"
    text = host.read_attr("/proc/driver/nvidia/version")
    if text:
        parsed = parse_nvidia_version(text)
        if parsed:
            return parsed, "/proc/driver/nvidia/version"
    return None, None


def char_majors(host: Host) -> dict[str, int]:
    """Character device majors by driver name, from /proc/devices ("226 drm", "235 kfd")."""
    text = host.read_attr("/proc/devices")
    majors: dict[str, int] = {}
    if not text:
        return majors
    in_char = False
    for line in text.splitlines():
        if line.startswith("Character devices"):
            in_char = True
            continue
        if line.startswith("Block devices"):
            break
        parts = line.split()
        if in_char and len(parts) == 2 and parts[0].isdigit():
            majors.setdefault(parts[1], int(parts[0]))
    return majors


#: Keys DKMS / akmods sign modules with, which Secure Boot accepts once enrolled (MOK).
MOK_KEYS = (
    "/var/lib/shim-signed/mok/MOK.der",  # Ubuntu's shim-signed / dkms
    "/var/lib/dkms/mok.pub",  # DKMS 3 on Debian and others
    "/etc/pki/akmods/certs/public_key.der",  # Fedora akmods
)


def mok_key(host: Host) -> str | None:
    """The module signing key on the host, for `mokutil --import`; None when none exists."""
    for path in MOK_KEYS:
        try:
            if host.exists(path):
                return path
        except HostError:
            continue
    return None


@record
class Group:
    """One line of /etc/group."""

    name: str
    gid: int
    members: tuple[str, ...]


@record
class GroupDb:
    """/etc/group, looked up by name and by GID."""

    by_gid: dict[int, Group] = field(default_factory=dict)
    by_name: dict[str, Group] = field(default_factory=dict)
    readable: bool = True

    @classmethod
    def load(cls, host: Host) -> GroupDb:
        db = cls()
        try:
            text = host.read_text("/etc/group")
        except HostError:
            db.readable = False
            return db
        for line in text.splitlines():
            parts = line.split(":")
            if len(parts) < 3 or not parts[2].strip().isdigit():
                continue
            members = tuple(m for m in (parts[3].split(",") if len(parts) > 3 else []) if m)
            group = Group(parts[0], int(parts[2]), members)
            db.by_gid.setdefault(group.gid, group)
            db.by_name.setdefault(group.name, group)
        return db

    def name_of(self, gid: int) -> str | None:
        group = self.by_gid.get(gid)
        return group.name if group else None


def secure_boot_enabled(host: Host) -> bool | None:
    """The SecureBoot EFI variable: 4 attribute bytes, then 1 data byte (1 = enabled)."""
    try:
        data = host.read_bytes(SECURE_BOOT_VAR, 64)
    except HostError:
        return None
    if len(data) < 5:
        return None
    return data[4] == 1


#: Where udev reads rules; /etc overrides the packaged ones of the same name.
UDEV_RULE_DIRS = ("/etc/udev/rules.d", "/run/udev/rules.d", "/usr/lib/udev/rules.d",
                  "/lib/udev/rules.d")


def udev_rules_mentioning(host: Host, word: str, packaged_names: tuple[str, ...] = ()
                          ) -> list[tuple[str, str]]:
    """(file, line) of udev rules that mention `word` and set GROUP or MODE.

    Every file in /etc/udev/rules.d is read (local rules are few); in the packaged folders
    only files whose name contains one of `packaged_names` (the packaged folders hold a
    hundred files, and only a few concern GPUs).
    """
    found: list[tuple[str, str]] = []
    for folder in UDEV_RULE_DIRS:
        try:
            names = host.listdir(folder)
        except HostError:
            continue
        local = folder.startswith(("/etc/", "/run/"))
        for name in names:
            if not name.endswith(".rules"):
                continue
            if not local and not any(p in name for p in packaged_names):
                continue
            text = host.read_attr(f"{folder}/{name}")
            for line in (text or "").splitlines():
                stripped = line.strip()
                if (word in stripped and not stripped.startswith("#")
                        and ("GROUP" in stripped or "MODE" in stripped)):
                    found.append((f"{folder}/{name}", stripped))
    return found


def driver_versions(host: Host, modules: dict[str, KernelModule]) -> dict[str, tuple[str, str]]:
    """{"nvidia" | "amdgpu": (version, where it was read)} of the loaded GPU kernel modules.

    kernel.driver shows them and the report's `versions` names them, from this one fact.
    amdgpu has a version only when it is the out-of-tree amdgpu-dkms module."""
    found: dict[str, tuple[str, str]] = {}
    if "nvidia" in modules:
        version, source = nvidia_module_version(host)
        if version:
            found["nvidia"] = (version, source or "")
    if "amdgpu" in modules:
        amd = module_version(host, "amdgpu")
        if amd:
            found["amdgpu"] = (amd, "/sys/module/amdgpu/version")
    return found
