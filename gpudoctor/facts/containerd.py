"""containerd: the configuration it really loads, and whether it declares an nvidia runtime.

containerd reads one `config.toml` (`--config`, default /etc/containerd/config.toml) and the
files its `imports` name (globs; relative ones from the config's folder). The CRI plugin lives
at a different path per config version: `cri` (version 1), `io.containerd.grpc.v1.cri`
(version 2, containerd 1.x) and `io.containerd.cri.v1.runtime` (version 3, containerd 2.x).

How imports merge differs, and it matters: containerd 1.x replaces a whole plugin section
with the imported file's (a drop-in that declares only the nvidia runtime makes containerd
forget runc and its `SystemdCgroup`; proved against the real containerd 1.6 by the tests),
while version 3 merges tables key by key. `effective` below follows each.
"""

from __future__ import annotations

import fnmatch
import posixpath

from gpudoctor import TYPE_CHECKING
from gpudoctor.facts.engine_base import (
    binary,
    command_version,
    flag_value,
    installed_packages,
    processes_named,
    read_text_quiet,
    upstream_version,
    version_tuple,
)
from gpudoctor.host.base import Host, ProcessInfo
from gpudoctor.record import field, record

if TYPE_CHECKING:
    from typing import Any

DEFAULT_CONFIG = "/etc/containerd/config.toml"
DROP_IN_DIR = "/etc/containerd/conf.d"
DROP_IN = f"{DROP_IN_DIR}/99-nvidia.toml"
DEFAULT_SOCKET = "/run/containerd/containerd.sock"
CRI_PLUGIN = {1: "cri", 2: "io.containerd.grpc.v1.cri", 3: "io.containerd.cri.v1.runtime"}
PACKAGES = ("containerd", "containerd.io")
CMD_VERSION = "containerd-version"
NVIDIA_BINARY = "/usr/bin/nvidia-container-runtime"


@record
class TomlFile:
    """One TOML file containerd reads."""

    path: str
    text: str | None = None
    data: dict[str, Any] | None = None
    error: str | None = None  # why it cannot be parsed (with line and column when known)

    @property
    def ok(self) -> bool:
        return self.data is not None


def read_toml(host: Host, path: str) -> TomlFile:
    """Parse a TOML file as strictly as containerd and CRI-O do (go-toml rejects the same)."""
    text = read_text_quiet(host, path)
    if text is None:
        return TomlFile(path, error="does not exist")
    from gpudoctor.tomlfile import TomlError, loads  # tomllib: only hosts with the file

    try:
        return TomlFile(path, text, loads(text))
    except TomlError as exc:
        return TomlFile(path, text, error=str(exc))


def deep_merge(base: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = deep_merge(out[key], value)
        else:
            out[key] = value
    return out


def merge_v2(base: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    """containerd 1.x: top-level keys and whole plugin sections of `extra` replace `base`'s."""
    out = dict(base)
    for key, value in extra.items():
        if key == "plugins" and isinstance(value, dict):
            plugins = dict(out.get("plugins") or {})
            plugins.update(value)  # a plugin's whole section, not key by key
            out["plugins"] = plugins
        elif key not in ("imports", "version"):
            out[key] = value
    return out


def get_path(data: dict[str, Any] | None, *keys: str) -> Any:
    node: Any = data
    for key in keys:
        if not isinstance(node, dict):
            return None
        node = node.get(key)
    return node


@record
class ContainerdState:
    """containerd on this host, as far as it matters for GPU containers."""

    binary: str | None = None
    package: str | None = None
    version: str | None = None
    version_evidence: str = ""
    process: ProcessInfo | None = None
    processes_known: bool = False
    config_path: str = DEFAULT_CONFIG
    config_source: str = "containerd's default"
    main: TomlFile | None = None
    imports: list[TomlFile] = field(default_factory=list)
    #: import patterns that matched no file
    unmatched: list[str] = field(default_factory=list)
    config_version: int = 1
    effective: dict[str, Any] = field(default_factory=dict)
    #: the file each plugin section of `effective` comes from
    plugin_source: dict[str, str] = field(default_factory=dict)
    #: drop-ins beside config.toml that declare an nvidia runtime but are not imported (toolkit
    #: 1.18.0 wrote /etc/containerd/config.d/99-nvidia.toml, NVIDIA/nvidia-container-toolkit#1404)
    ignored_dropins: list[str] = field(default_factory=list)

    @property
    def installed(self) -> bool:
        return bool(self.binary or self.package or self.process)

    @property
    def running(self) -> bool:
        return self.process is not None

    @property
    def major(self) -> int | None:
        v = version_tuple(self.version)
        return v[0] if v else None

    @property
    def cri_plugin(self) -> str:
        return CRI_PLUGIN.get(self.config_version, CRI_PLUGIN[2])

    @property
    def cri(self) -> dict[str, Any] | None:
        node = get_path(self.effective, "plugins", self.cri_plugin)
        return node if isinstance(node, dict) else None

    @property
    def runtimes(self) -> dict[str, Any]:
        node = get_path(self.cri, "containerd", "runtimes")
        return node if isinstance(node, dict) else {}

    @property
    def default_runtime(self) -> str:
        name = get_path(self.cri, "containerd", "default_runtime_name")
        return name if isinstance(name, str) and name else "runc"

    @property
    def cri_disabled(self) -> bool:
        disabled = self.effective.get("disabled_plugins") or []
        return any(d in ("cri", self.cri_plugin, "io.containerd.grpc.v1.cri") for d in disabled)

    def runtime_binary(self, name: str) -> str | None:
        entry = self.runtimes.get(name)
        value = get_path(entry, "options", "BinaryName")
        return value if isinstance(value, str) and value else None

    def systemd_cgroup(self, name: str) -> bool | None:
        value = get_path(self.runtimes.get(name), "options", "SystemdCgroup")
        return value if isinstance(value, bool) else None

    @property
    def broken_files(self) -> list[TomlFile]:
        files = [self.main] if self.main is not None else []
        files += self.imports
        return [f for f in files if f.error and f.error != "does not exist"]

    def dropin_shadow(self) -> list[str]:
        """Runtimes the main file declares that containerd 1.x forgets because an imported
        file replaces the whole CRI section (empty for version 3 or when nothing is lost)."""
        if self.config_version >= 3 or self.main is None or not self.main.ok:
            return []
        source = self.plugin_source.get(self.cri_plugin)
        if source in (None, self.config_path):
            return []
        mine = get_path(self.main.data, "plugins", self.cri_plugin, "containerd", "runtimes")
        if not isinstance(mine, dict):
            return []
        return sorted(name for name in mine if name not in self.runtimes)

    def dropin_lost_settings(self) -> list[str]:
        """Other settings of the main file's CRI section that an imported file's section
        replaced (containerd 1.x), as dotted keys, runtimes left out."""
        if self.config_version >= 3 or self.main is None or not self.main.ok:
            return []
        if self.plugin_source.get(self.cri_plugin) in (None, self.config_path):
            return []
        mine = get_path(self.main.data, "plugins", self.cri_plugin)
        if not isinstance(mine, dict):
            return []
        have = set(_dotted(self.cri or {}))
        return [key for key in _dotted(mine)
                if key not in have and not key.startswith("containerd.runtimes.")]


def _dotted(data: dict[str, Any], prefix: str = "") -> list[str]:
    out: list[str] = []
    for key, value in data.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict) and value:
            out += _dotted(value, name + ".")
        else:
            out.append(name)
    return out


def config_version(data: dict[str, Any] | None, major: int | None) -> int:
    value = (data or {}).get("version")
    if isinstance(value, int) and value in (1, 2, 3):
        return value
    return 1 if (major or 1) < 2 else 3


def _expand(host: Host, pattern: str, base_dir: str) -> list[str]:
    if not pattern.startswith("/"):
        pattern = posixpath.join(base_dir, pattern)
    if not any(ch in pattern for ch in "*?["):
        return [pattern] if host.exists(pattern) else []
    folder, name = posixpath.split(pattern)
    return [posixpath.join(folder, n) for n in sorted(host.listdir(folder))
            if fnmatch.fnmatchcase(n, name)]


def load_config(host: Host, path: str, major: int | None) -> tuple[
        TomlFile, list[TomlFile], list[str], int, dict[str, Any], dict[str, str]]:
    """The main file, its imports, and the merged configuration containerd would run with."""
    main = read_toml(host, path)
    data = main.data or {}
    version = config_version(data, major)
    effective = {k: v for k, v in data.items() if k != "imports"}
    sources = {name: path for name in (data.get("plugins") or {})}
    imported: list[TomlFile] = []
    unmatched: list[str] = []
    patterns = data.get("imports") or []
    for pattern in patterns if isinstance(patterns, list) else []:
        if not isinstance(pattern, str):
            continue
        paths = _expand(host, pattern, posixpath.dirname(path))
        if not paths:
            unmatched.append(pattern)
        for file_path in paths:
            if file_path == path or any(f.path == file_path for f in imported):
                continue
            extra = read_toml(host, file_path)
            imported.append(extra)
            if not extra.ok:
                continue
            assert extra.data is not None
            if version >= 3:
                effective = deep_merge(effective, {k: v for k, v in extra.data.items()
                                                   if k not in ("imports", "version")})
            else:
                effective = merge_v2(effective, extra.data)
            for name in extra.data.get("plugins") or {}:
                sources[name] = file_path
    return main, imported, unmatched, version, effective, sources


def _is_dockers_own(proc: ProcessInfo) -> bool:
    """dockerd < 20 could run a private containerd under /var/run/docker/containerd."""
    return any("/var/run/docker/containerd" in a or "/run/docker/containerd" in a
               for a in proc.cmdline)


def inspect_containerd(host: Host) -> ContainerdState:
    state = ContainerdState()
    state.binary = binary(host, "containerd")
    packages = installed_packages(host, PACKAGES)
    pkg = next(iter(packages.values()), None)
    if pkg is not None:
        state.package = f"{pkg.name} {pkg.version}"
    procs = processes_named(host, "containerd")
    state.processes_known = procs is not None
    dockerds = {p.pid for p in processes_named(host, "dockerd") or []}
    procs = [p for p in procs or [] if not _is_dockers_own(p) and p.ppid not in dockerds]
    state.process = procs[0] if procs else None
    if not state.installed:
        return state
    argv = [state.binary or "containerd", "--version"]
    state.version, state.version_evidence = command_version(host, CMD_VERSION, argv)
    if state.version is None and pkg is not None:
        state.version = upstream_version(pkg.version)
        state.version_evidence += f"; package {pkg.name} {pkg.version}"
    if state.process is not None:
        flag = flag_value(state.process.cmdline, "--config", "-c")
        if flag:
            state.config_path, state.config_source = flag, f"--config of pid {state.process.pid}"
    (state.main, state.imports, state.unmatched, state.config_version, state.effective,
     state.plugin_source) = load_config(host, state.config_path, state.major)
    loaded = {f.path for f in state.imports}
    base = posixpath.dirname(state.config_path)
    for folder in (f"{base}/conf.d", f"{base}/config.d"):
        for name in sorted(host.listdir(folder)):
            path = f"{folder}/{name}"
            if path in loaded or not name.endswith(".toml"):
                continue
            data = read_toml(host, path).data
            for plugin in CRI_PLUGIN.values():
                if get_path(data, "plugins", plugin, "containerd", "runtimes", "nvidia"):
                    state.ignored_dropins.append(path)
                    break
    return state


def socket_of(state: ContainerdState) -> str:
    address = get_path(state.effective, "grpc", "address")
    return address if isinstance(address, str) and address else DEFAULT_SOCKET
