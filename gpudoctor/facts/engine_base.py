"""What every container engine has in common: packages, binaries, processes, versions.

The per-engine modules (podman, containerd, crio, kubelet) read these the same way, so that
"installed", "running" and "version" mean one thing for every engine in the report.
"""

from __future__ import annotations

import re

from gpudoctor.errors import HostError
from gpudoctor.host.base import DEFAULT_PATH, Host, ProcessInfo
from gpudoctor.record import record

#: Where engines' programs live (systemd units use these, not the person's PATH).
SYSTEM_PATH = DEFAULT_PATH
COMMAND_TIMEOUT = 10.0
_VERSION = re.compile(r"(?<![\w.])v?(\d+\.\d+(?:\.\d+)?)")


@record(frozen=True)
class EnginePackage:
    """The package that installed an engine, from dpkg or rpm."""

    name: str
    version: str
    source: str  # dpkg or rpm


def parse_version(text: str | None) -> str | None:
    """The first dotted version in a line such as `podman version 4.3.1` or
    `containerd github.com/containerd/containerd 1.6.20~ds1 1.6.20~ds1-1+deb12u3`."""
    match = _VERSION.search(text or "")
    return match.group(1) if match else None


def version_tuple(version: str | None) -> tuple[int, int, int] | None:
    match = re.match(r"v?(\d+)\.(\d+)(?:\.(\d+))?", version or "")
    if not match:
        return None
    return int(match.group(1)), int(match.group(2)), int(match.group(3) or 0)


def upstream_version(package_version: str | None) -> str | None:
    """`5:28.5.1-1~ubuntu` -> 28.5.1; `4.3.1+ds1-8+deb12u1` -> 4.3.1."""
    if not package_version:
        return None
    text = package_version.split(":", 1)[-1]
    return parse_version(text)


def installed_packages(host: Host, names: tuple[str, ...]) -> dict[str, EnginePackage]:
    """Those of `names` that dpkg records as installed (rpm hosts: see `binary`)."""
    try:
        text = host.read_optional("/var/lib/dpkg/status", 64 * 1024 * 1024)
    except HostError:
        text = None
    found: dict[str, EnginePackage] = {}
    for paragraph in (text or "").split("\n\n"):
        fields: dict[str, str] = {}
        for line in paragraph.splitlines():
            key, sep, value = line.partition(":")
            if sep and not line.startswith((" ", "\t")):
                fields[key.strip()] = value.strip()
        name = fields.get("Package")
        if name in names and fields.get("Status", "").endswith(" installed"):
            found[name] = EnginePackage(name, fields.get("Version", ""), "dpkg")
    return found


def binary(host: Host, name: str) -> str | None:
    """The engine's program, where its service would find it."""
    return host.which(name, SYSTEM_PATH)


def processes_named(host: Host, *names: str) -> list[ProcessInfo] | None:
    """Running processes with one of these program names; None when processes are unknown."""
    procs = host.processes()
    if procs is None:
        return None
    out = []
    for proc in procs:
        exe_name = (proc.exe or "").rsplit("/", 1)[-1]
        first = proc.cmdline[0].rsplit("/", 1)[-1] if proc.cmdline else ""
        if proc.name in names or exe_name in names or first in names:
            out.append(proc)
    return out


def flag_value(cmdline: tuple[str, ...] | list[str], *names: str) -> str | None:
    """The value of `--name=V` / `--name V` (last one wins, as Go's flag packages do)."""
    value = None
    args = list(cmdline)
    for i, arg in enumerate(args):
        for name in names:
            if arg == name and i + 1 < len(args):
                value = args[i + 1]
            elif arg.startswith(name + "="):
                value = arg[len(name) + 1:]
    return value


def command_version(host: Host, name: str, argv: list[str]) -> tuple[str | None, str]:
    """(version, evidence line) from a `--version` run; the host root replays `name`."""
    result = host.run(name, argv, timeout=COMMAND_TIMEOUT)
    if result is None:
        return None, f"`{' '.join(argv)}`: not recorded in this host root"
    if not result.ok:
        return None, result.describe_failure()
    first = (result.stdout or result.stderr).strip().splitlines()
    line = first[0] if first else ""
    return parse_version(line), f"`{' '.join(argv)}`: {line or 'no output'}"


def read_text_quiet(host: Host, path: str) -> str | None:
    try:
        return host.read_optional(path)
    except HostError:
        return None
