"""CRI-O: /etc/crio/crio.conf and its drop-ins, and the nvidia runtime there.

CRI-O reads crio.conf, then every file under /etc/crio/crio.conf.d (it walks the folder: any
name, backups and editor leftovers included) in lexical order, each one overriding single keys
of the ones before (unlike containerd 1.x, a drop-in never drops a whole table). Toolkit
1.18 to 1.19.0 wrote its drop-in to /etc/crio/conf.d, which CRI-O never reads
(NVIDIA/nvidia-container-toolkit#1829). `nvidia-ctk runtime configure --runtime=crio` declares
`[crio.runtime.runtimes.nvidia]` with `runtime_path` and `runtime_type = "oci"`.
"""

from __future__ import annotations

from gpudoctor import TYPE_CHECKING
from gpudoctor.facts.containerd import TomlFile, deep_merge, get_path, read_toml
from gpudoctor.facts.engine_base import (
    binary,
    command_version,
    flag_value,
    installed_packages,
    processes_named,
    upstream_version,
)
from gpudoctor.host.base import Host, ProcessInfo
from gpudoctor.record import field, record

if TYPE_CHECKING:
    from typing import Any

DEFAULT_CONFIG = "/etc/crio/crio.conf"
DROP_IN_DIR = "/etc/crio/crio.conf.d"
DROP_IN = f"{DROP_IN_DIR}/99-nvidia.toml"
DEFAULT_SOCKET = "/var/run/crio/crio.sock"
PACKAGES = ("cri-o", "crio")
CMD_VERSION = "crio-version"
#: where toolkit 1.18 - 1.19.0 put its drop-in by mistake
WRONG_DROP_IN_DIR = "/etc/crio/conf.d"
LEFTOVER_SUFFIXES = (".bak", "~", ".rpmsave", ".rpmnew", ".dpkg-old", ".dpkg-dist", ".orig",
                     ".swp", ".save", ".old")


@record
class CrioState:
    """CRI-O as installed and configured (main file and drop-ins)."""

    binary: str | None = None
    package: str | None = None
    version: str | None = None
    version_evidence: str = ""
    process: ProcessInfo | None = None
    config_path: str = DEFAULT_CONFIG
    drop_in_dir: str = DROP_IN_DIR
    files: list[TomlFile] = field(default_factory=list)
    effective: dict[str, Any] = field(default_factory=dict)
    #: runtime name -> the file that declares it last
    runtime_source: dict[str, str] = field(default_factory=dict)
    #: files CRI-O never reads that declare an nvidia runtime (the toolkit's wrong folder)
    ignored_dropins: list[str] = field(default_factory=list)
    #: backups and editor leftovers in the drop-in folder, which CRI-O reads all the same
    leftovers: list[str] = field(default_factory=list)

    @property
    def installed(self) -> bool:
        return bool(self.binary or self.package or self.process)

    @property
    def running(self) -> bool:
        return self.process is not None

    @property
    def runtimes(self) -> dict[str, Any]:
        node = get_path(self.effective, "crio", "runtime", "runtimes")
        return node if isinstance(node, dict) else {}

    @property
    def default_runtime(self) -> str | None:
        value = get_path(self.effective, "crio", "runtime", "default_runtime")
        return value if isinstance(value, str) and value else None

    @property
    def cgroup_manager(self) -> str:
        value = get_path(self.effective, "crio", "runtime", "cgroup_manager")
        return value if isinstance(value, str) and value else "systemd"

    def runtime_path(self, name: str) -> str | None:
        value = get_path(self.runtimes.get(name), "runtime_path")
        return value if isinstance(value, str) and value else None

    @property
    def broken_files(self) -> list[TomlFile]:
        return [f for f in self.files if f.error and f.error != "does not exist"]


def inspect_crio(host: Host) -> CrioState:
    state = CrioState()
    state.binary = binary(host, "crio")
    packages = installed_packages(host, PACKAGES)
    pkg = next(iter(packages.values()), None)
    if pkg is not None:
        state.package = f"{pkg.name} {pkg.version}"
    procs = processes_named(host, "crio") or []
    state.process = procs[0] if procs else None
    if not state.installed:
        return state
    state.version, state.version_evidence = command_version(
        host, CMD_VERSION, [state.binary or "crio", "--version"])
    if state.version is None and pkg is not None:
        state.version = upstream_version(pkg.version)
    if state.process is not None:
        state.config_path = flag_value(state.process.cmdline, "--config", "-c") or DEFAULT_CONFIG
        state.drop_in_dir = (flag_value(state.process.cmdline, "--config-dir", "-d")
                             or DROP_IN_DIR)
    paths = [state.config_path, *walk(host, state.drop_in_dir)]
    state.leftovers = [p for p in paths[1:] if p.endswith(LEFTOVER_SUFFIXES)]
    if state.drop_in_dir != WRONG_DROP_IN_DIR:
        for path in walk(host, WRONG_DROP_IN_DIR):
            wrong = read_toml(host, path)
            if get_path(wrong.data, "crio", "runtime", "runtimes", "nvidia") is not None:
                state.ignored_dropins.append(path)
    for path in paths:
        file = read_toml(host, path)
        state.files.append(file)
        if file.ok:
            assert file.data is not None
            state.effective = deep_merge(state.effective, file.data)
            for name in get_path(file.data, "crio", "runtime", "runtimes") or {}:
                state.runtime_source[name] = path
    return state


def walk(host: Host, folder: str, depth: int = 0) -> list[str]:
    """Every file under `folder`, in the lexical order of Go's filepath.Walk."""
    out: list[str] = []
    for name in sorted(host.listdir(folder)):
        path = f"{folder}/{name}"
        if host.is_dir(path):
            if depth < 4:
                out += walk(host, path, depth + 1)
        else:
            out.append(path)
    return out
