"""CDI (Container Device Interface) spec files, what they offer, and whether Docker uses them.

`--device nvidia.com/gpu=all` works only when the daemon has CDI enabled (Docker 25 with
`features.cdi`, on by default from 28.2) and a spec in its spec folders offers that device, and
the spec still matches the host: after a driver upgrade a spec generated for the old driver
points at libraries that are gone and containers fail to start (nvidia-container-stack.md §4
#20). YAML is read with PyYAML's safe loader, imported only when a YAML spec exists.
"""

from __future__ import annotations

import json
import re

from gpudoctor import TYPE_CHECKING
from gpudoctor.errors import HostError
from gpudoctor.host.base import Host
from gpudoctor.record import field, record
from gpudoctor.versions import version_tuple

if TYPE_CHECKING:
    from typing import Any

    from gpudoctor.facts import Facts
    from gpudoctor.facts.docker import DockerDaemon

DEFAULT_SPEC_DIRS = ("/etc/cdi", "/var/run/cdi")
SPEC_SUFFIXES = (".yaml", ".yml", ".json")
MAX_SPEC = 4 * 1024 * 1024
#: compiled on first use (re caches them): most hosts have no CDI spec to read
_LIB_VERSION = r"\.so\.(\d{3,}\.\d+(?:\.\d+)?)$"
_DRIVER_VERSION = r"\b(\d{3,}\.\d+(?:\.\d+)?)\b"


@record
class CdiSpec:
    """One spec file."""

    path: str
    format: str = "yaml"
    cdi_version: str | None = None
    kind: str | None = None
    #: device names as written in the spec ("0", "all", "GPU-...")
    devices: list[str] = field(default_factory=list)
    #: why the file cannot be used (syntax, not a CDI spec); None when it parsed
    error: str | None = None
    #: host paths it references (device nodes, mounts, hooks) that do not exist
    missing: list[str] = field(default_factory=list)
    #: NVIDIA driver versions named by the libraries it mounts (e.g. {"535.161.07"})
    driver_versions: set[str] = field(default_factory=set)
    mtime: float | None = None
    referenced: int = 0

    @property
    def qualified_devices(self) -> list[str]:
        return [f"{self.kind}={d}" for d in self.devices] if self.kind else []

    @property
    def stale(self) -> bool:
        return bool(self.missing)

    @property
    def version_tuple(self) -> tuple[int, int, int] | None:
        return version_tuple(self.cdi_version)


@record
class CdiState:
    """CDI on this host, as the person's Docker daemon would see it."""

    dirs: list[str] = field(default_factory=list)
    dirs_source: str = "CDI's default spec folders"
    unreadable_dirs: list[str] = field(default_factory=list)
    specs: list[CdiSpec] = field(default_factory=list)
    #: True/False when known; None when the daemon's CDI state cannot be told
    enabled: bool | None = None
    enabled_reason: str = ""
    #: False for Docker < 25 (no CDI at all); None when the version is unknown
    supported: bool | None = None
    #: the loaded NVIDIA kernel driver's version, to spot specs made for another one
    driver_version: str | None = None

    @property
    def valid_specs(self) -> list[CdiSpec]:
        return [s for s in self.specs if s.error is None]

    @property
    def broken_specs(self) -> list[CdiSpec]:
        return [s for s in self.specs if s.error is not None]

    @property
    def stale_specs(self) -> list[CdiSpec]:
        return [s for s in self.valid_specs if s.stale]

    @property
    def devices(self) -> list[str]:
        """Every fully qualified device name offered (vendor/class=name)."""
        names: list[str] = []
        for spec in self.valid_specs:
            names += [d for d in spec.qualified_devices if d not in names]
        return names

    def offers(self, device: str) -> bool:
        """True when a usable (parsed, not stale) spec offers this device."""
        return any(device in s.qualified_devices for s in self.valid_specs if not s.stale)

    @property
    def used(self) -> bool:
        return bool(self.specs)


# ----- reading specs ------------------------------------------------------------------------------
def _load_yaml(text: str) -> Any:
    """PyYAML's safe loader (the C one when built): imported only when a YAML spec is read."""
    import yaml

    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    return yaml.load(text, Loader=loader)


def _edit_paths(edits: Any) -> list[tuple[str, str]]:
    """(kind, host path) pairs a containerEdits block references."""
    found: list[tuple[str, str]] = []
    if not isinstance(edits, dict):
        return found
    for node in edits.get("deviceNodes") or []:
        if isinstance(node, dict):
            path = node.get("hostPath") or node.get("path")
            if isinstance(path, str):
                found.append(("device", path))
    for mount in edits.get("mounts") or []:
        if isinstance(mount, dict) and isinstance(mount.get("hostPath"), str):
            found.append(("file", mount["hostPath"]))
    for hook in edits.get("hooks") or []:
        if isinstance(hook, dict) and isinstance(hook.get("path"), str):
            found.append(("file", hook["path"]))
    return found


def parse_spec(path: str, text: str) -> tuple[CdiSpec, list[tuple[str, str]]]:
    """Parse one spec; returns it and the host paths it references."""
    spec = CdiSpec(path=path, format="json" if path.endswith(".json") else "yaml")
    refs: list[tuple[str, str]] = []
    doc: Any = None
    try:
        doc = json.loads(text) if spec.format == "json" else _load_yaml(text)
    except ValueError as exc:  # json.JSONDecodeError is a ValueError
        spec.error = f"not valid JSON: {exc}"
        return spec, refs
    except Exception as exc:  # yaml.YAMLError and friends
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        spec.error = f"not valid YAML{where}: {problem}"
        return spec, refs
    if not isinstance(doc, dict):
        spec.error = "the file is not a mapping with `cdiVersion`, `kind` and `devices`"
        return spec, refs
    spec.cdi_version = str(doc["cdiVersion"]) if doc.get("cdiVersion") is not None else None
    spec.kind = str(doc["kind"]) if doc.get("kind") else None
    if not spec.kind or "/" not in spec.kind:
        spec.error = f"`kind` is {doc.get('kind')!r}, not `vendor/class` (e.g. nvidia.com/gpu)"
        return spec, refs
    devices = doc.get("devices")
    if not isinstance(devices, list) or not devices:
        spec.error = "it lists no devices"
        return spec, refs
    refs += _edit_paths(doc.get("containerEdits"))
    for device in devices:
        if not isinstance(device, dict) or device.get("name") in (None, ""):
            continue
        spec.devices.append(str(device["name"]))
        refs += _edit_paths(device.get("containerEdits"))
    return spec, refs


def _exists(host: Host, kind: str, path: str) -> bool:
    try:
        if kind == "device":
            return host.device_node(path) is not None
        return host.exists(path) or host.is_link(path)
    except HostError:
        return True  # unreadable is not "gone"


def read_spec(host: Host, path: str) -> CdiSpec:
    """Read, parse and check one spec file against the host."""
    try:
        text = host.read_text(path, MAX_SPEC)
    except HostError as exc:
        return CdiSpec(path=path, error=f"cannot be read: {exc.reason}")
    spec, refs = parse_spec(path, text)
    try:
        st = host.stat(path)
    except HostError:
        st = None
    spec.mtime = st.mtime if st else None
    seen: set[str] = set()
    for kind, ref in refs:
        if ref in seen or not ref.startswith("/"):
            continue
        seen.add(ref)
        version = re.search(_LIB_VERSION, ref)
        if version:
            spec.driver_versions.add(version.group(1))
        if not _exists(host, kind, ref):
            spec.missing.append(ref)
    spec.referenced = len(seen)
    return spec


def loaded_driver_version(host: Host) -> str | None:
    """The NVIDIA kernel driver's version (/sys/module/nvidia/version, /proc/driver/nvidia)."""
    version = host.read_attr("/sys/module/nvidia/version")
    if version:
        return version
    text = host.read_attr("/proc/driver/nvidia/version")
    if text:
        first = text.splitlines()[0]
        match = re.search(_DRIVER_VERSION, first.split("Module", 1)[-1])
        if match:
            return match.group(1)
    return None


# ----- the daemon's side ------------------------------------------------------------------------
def spec_dirs(daemon: DockerDaemon) -> tuple[list[str], str]:
    """The folders searched: CDI's defaults plus the daemon's own `cdi-spec-dirs`."""
    dirs = list(DEFAULT_SPEC_DIRS)
    sources = []
    reported = daemon.cdi_spec_dirs
    if reported:
        sources.append("the daemon's CDISpecDirs")
        dirs += [d for d in reported if d not in dirs]
    configured = daemon.config.values.get("cdi-spec-dirs")
    if isinstance(configured, list) and configured:
        sources.append(f"`cdi-spec-dirs` in {daemon.config_path}")
        dirs += [str(d) for d in configured if str(d) not in dirs]
    flagged = daemon.flag_values("--cdi-spec-dir")
    if flagged:
        sources.append("dockerd's --cdi-spec-dir")
        dirs += [d for d in flagged if d not in dirs]
    label = "CDI's default spec folders" + (" and " + ", ".join(sources) if sources else "")
    return dirs, label


def cdi_enabled(daemon: DockerDaemon) -> tuple[bool | None, bool | None, str]:
    """(supported, enabled, why) for the person's daemon."""
    reported = daemon.cdi_spec_dirs
    version = daemon.server_version
    feature = daemon.config.values.get("features")
    feature_cdi = feature.get("cdi") if isinstance(feature, dict) else None
    flagged = [f for f in daemon.flag_values("--feature") if f.startswith("cdi")]
    if flagged:
        feature_cdi = flagged[-1] in ("cdi", "cdi=true")
    if daemon.reachable:
        at_least_25 = daemon.at_least(25)
        if reported is None and at_least_25 is not True:
            return False, False, (f"Docker {version or '(version unknown)'} has no CDI support "
                                  "(it arrived in Docker 25.0)")
        if reported:
            return True, True, (f"the daemon reports CDI spec folders {', '.join(reported)} "
                                "(CDI is on)")
        why = ("`features.cdi` is false" if feature_cdi is False else
               "Docker before 28.2 needs `\"features\": {\"cdi\": true}` in daemon.json")
        return True, False, f"the daemon reports no CDI spec folders: CDI is off ({why})"
    if version is None:
        if feature_cdi is not None:
            return None, bool(feature_cdi), f"daemon.json sets features.cdi to {feature_cdi}"
        return None, None, "the daemon does not answer, so whether CDI is on is unknown"
    if daemon.at_least(25) is False:
        return False, False, f"Docker {version} has no CDI support (it arrived in Docker 25.0)"
    if daemon.at_least(28, 2):
        if feature_cdi is False:
            return True, False, "daemon.json sets features.cdi to false"
        return True, True, f"CDI is on by default from Docker 28.2 (this is {version})"
    if feature_cdi:
        return True, True, "daemon.json sets features.cdi to true"
    return True, False, (f"Docker {version} enables CDI only with `\"features\": {{\"cdi\": "
                         "true}` in daemon.json")


def inspect_cdi(host: Host, facts: Facts) -> CdiState:
    """Spec files in the daemon's CDI folders, checked against the host, and the daemon's CDI."""
    daemon = facts.docker
    state = CdiState()
    state.dirs, state.dirs_source = spec_dirs(daemon)
    seen: set[str] = set()
    for folder in state.dirs:
        try:
            names = host.listdir(folder)
        except HostError:
            state.unreadable_dirs.append(folder)
            continue
        for name in names:
            if not name.endswith(SPEC_SUFFIXES):
                continue
            path = f"{folder.rstrip('/')}/{name}"
            try:
                real = host.realpath(path)
            except (HostError, OSError):
                real = path
            if real in seen:
                continue  # /var/run is usually a link to /run
            seen.add(real)
            state.specs.append(read_spec(host, path))
    state.supported, state.enabled, state.enabled_reason = cdi_enabled(daemon)
    state.driver_version = loaded_driver_version(host)
    return state


__all__ = ["DEFAULT_SPEC_DIRS", "CdiSpec", "CdiState", "cdi_enabled", "inspect_cdi",
           "loaded_driver_version", "parse_spec", "read_spec",
           "spec_dirs"]
