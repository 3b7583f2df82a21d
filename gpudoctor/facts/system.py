"""System facts: os-release, kernel modules, groups, Secure Boot."""

from __future__ import annotations

from dataclasses import dataclass, field

from gpudoctor.errors import HostError
from gpudoctor.host.base import Host

SECURE_BOOT_VAR = (
    "/sys/firmware/efi/efivars/SecureBoot-8be4df61-93ca-11d2-aa0d-00e098032b8c"
)


def os_release(host: Host) -> dict[str, str]:
    """Parse /etc/os-release (falling back to /usr/lib/os-release) into a dict."""
    for path in ("/etc/os-release", "/usr/lib/os-release"):
        text = host.read_attr(path)
        if text is None:
            continue
        values: dict[str, str] = {}
        for line in text.splitlines():
            key, sep, value = line.partition("=")
            if sep and key.strip() and not key.startswith("#"):
                values[key.strip()] = value.strip().strip('"').strip("'")
        return values
    return {}


@dataclass(frozen=True)
class KernelModule:
    name: str
    size: int
    refcount: int
    used_by: tuple[str, ...]
    state: str  # Live, Loading, Unloading
    version: str | None = None


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
        modules[name] = KernelModule(name, size, ref, used, parts[4])
    return modules


def module_version(host: Host, name: str) -> str | None:
    return host.read_attr(f"/sys/module/{name}/version")


@dataclass
class Group:
    name: str
    gid: int
    members: tuple[str, ...]


@dataclass
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
