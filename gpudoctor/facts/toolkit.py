"""nvidia-container-toolkit as installed on the host, and what the running dockerd saw of it.

Docker registers its `--gpus` device driver once, when dockerd starts, and only if it finds
`nvidia-container-runtime-hook` on its own PATH (nvidia-container-stack.md §2.2). So besides
"is the toolkit installed" this answers "was the hook there when dockerd started", from the
dockerd process's PATH and start time against the hook's (or its package's) install time.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from gpudoctor import TYPE_CHECKING
from gpudoctor.errors import HostError
from gpudoctor.facts import dpkg
from gpudoctor.facts.dpkg import InstalledPackage
from gpudoctor.host.base import DEFAULT_PATH as SERVICE_PATH
from gpudoctor.host.base import Host
from gpudoctor.record import field, record
from gpudoctor.versions import version_tuple

if TYPE_CHECKING:
    from gpudoctor.facts import Facts
    from gpudoctor.facts.docker import DockerDaemon

#: The four packages of a toolkit install, in the order dpkg must install them.
PACKAGES = ("libnvidia-container1", "libnvidia-container-tools",
            "nvidia-container-toolkit-base", "nvidia-container-toolkit")
#: What each binary belongs to (nvidia-container-stack.md §6 "Files").
BINARIES = {
    "nvidia-ctk": "nvidia-container-toolkit-base",
    "nvidia-container-runtime": "nvidia-container-toolkit-base",
    "nvidia-container-runtime-hook": "nvidia-container-toolkit",
    "nvidia-container-cli": "libnvidia-container-tools",
    "nvidia-cdi-hook": "nvidia-container-toolkit-base",
}
HOOK = "nvidia-container-runtime-hook"
CDI_HOOK = "nvidia-cdi-hook"
RUNTIME = "nvidia-container-runtime"
DPKG_STATUS = dpkg.DPKG_STATUS
DPKG_INFO = "/var/lib/dpkg/info"
DPKG_LOG = "/var/log/dpkg.log"
TOOLKIT_CONFIG = "/etc/nvidia-container-runtime/config.toml"
COMMAND_TIMEOUT = 5.0
#: psutil derives a start time from the boot time in whole seconds, so it can read up to a
#: second early; an install this close to the start is not called "after".
START_TIME_SLACK = 1.0
#: Version commands, tried in order (stable host.json `commands` keys).
VERSION_COMMANDS = (
    ("nvidia-ctk-version", "nvidia-ctk", ["--version"]),
    ("nvidia-container-runtime-version", RUNTIME, ["--version"]),
    ("nvidia-container-runtime-hook-version", HOOK, ["-version"]),
    ("nvidia-container-cli-version", "nvidia-container-cli", ["--version"]),
)
CMD_RPM = "rpm-nvidia-container-toolkit"


#: One package as the package database records it (facts/dpkg.py).
Package = InstalledPackage


@record
class ToolkitConfig:
    """The toolkit's config.toml, reduced to what decides whether containers get a GPU."""

    path: str
    #: why the hook reads this file (XDG_CONFIG_HOME, or the toolkit's default)
    why: str = "the toolkit's default"
    exists: bool = False
    no_cgroups: bool | None = None
    mode: str | None = None
    error: str | None = None
    #: [nvidia-container-cli] ldconfig as written (`@/sbin/ldconfig.real`: `@` = a host path)
    ldconfig: str | None = None


@record
class DpkgEvent:
    """The last install or upgrade of nvidia-container-toolkit in /var/log/dpkg.log."""

    action: str  # "install" or "upgrade"
    old: str
    new: str
    when: str

    @property
    def first_install(self) -> bool:
        return self.action == "install" and self.old in ("<none>", "")


@record
class ToolkitInfo:
    """nvidia-container-toolkit on the host."""

    #: "dpkg", "rpm", "binaries" or "none": where the install was seen
    source: str = "none"
    packages: dict[str, Package] = field(default_factory=dict)
    #: binary name -> where it was found
    binaries: dict[str, str] = field(default_factory=dict)
    #: the PATH searched for binaries (the person's, systemd's and every dockerd's)
    search_path: str = SERVICE_PATH
    version: str | None = None
    version_source: str = ""
    dpkg_event: DpkgEvent | None = None
    config: ToolkitConfig = field(default_factory=lambda: ToolkitConfig(TOOLKIT_CONFIG))

    @property
    def installed(self) -> bool:
        return bool(self.installed_packages) or HOOK in self.binaries or RUNTIME in self.binaries

    @property
    def installed_packages(self) -> dict[str, Package]:
        return {n: p for n, p in self.packages.items() if p.installed}

    @property
    def hook(self) -> str | None:
        return self.binaries.get(HOOK)

    @property
    def broken_packages(self) -> list[Package]:
        return [p for p in self.packages.values() if p.half_installed]

    @property
    def missing_packages(self) -> list[str]:
        """Of the four packages, those absent while others are installed."""
        if not self.installed_packages:
            return []
        return [n for n in PACKAGES if n not in self.installed_packages]

    @property
    def package_versions(self) -> dict[str, str]:
        return {n: p.version or "?" for n, p in self.installed_packages.items()}

    @property
    def versions_match(self) -> bool:
        return len(set(self.package_versions.values())) <= 1

    @property
    def version_tuple(self) -> tuple[int, int, int] | None:
        return version_tuple(self.version)

    @property
    def exact_match_required(self) -> bool:
        """Since 1.18 the packages depend on each other with `=`: a mix does not install."""
        versions = [version_tuple(v) for v in self.package_versions.values()]
        return any(v is not None and v >= (1, 18, 0) for v in versions)


# ----- package databases -------------------------------------------------------------------------
def parse_dpkg_status(text: str) -> dict[str, Package]:
    """The toolkit's packages in a dpkg status file (only their paragraphs are parsed)."""
    return dpkg.parse_dpkg_status(text, PACKAGES)


def _read_big(host: Host, path: str, limit: int) -> str | None:
    try:
        return host.read_optional(path, limit)
    except HostError:
        return None


def _rpm_packages(host: Host) -> dict[str, Package]:
    if host.live and host.which("rpm", SERVICE_PATH) is None:
        return {}
    result = host.run(CMD_RPM, ["rpm", "-q", "--qf", "%{NAME} %{VERSION}-%{RELEASE}\\n",
                                *PACKAGES], timeout=COMMAND_TIMEOUT)
    if result is None or result.missing or result.timed_out:
        return {}
    found = {}
    for line in result.stdout.splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[0] in PACKAGES:
            found[parts[0]] = Package(parts[0], parts[1], "installed", "rpm")
    return found


def last_dpkg_event(text: str) -> DpkgEvent | None:
    """The last `install`/`upgrade` of nvidia-container-toolkit in a dpkg.log."""
    event = None
    pattern = re.compile(r"^(\S+ \S+) (install|upgrade) nvidia-container-toolkit(?::\S+)? "
                         r"(\S+) (\S+)$", re.MULTILINE)
    for match in pattern.finditer(text):
        event = DpkgEvent(action=match.group(2), old=match.group(3), new=match.group(4),
                          when=match.group(1))
    return event


# ----- binaries and versions ---------------------------------------------------------------------
def _join_paths(*paths: str | None) -> str:
    seen: list[str] = []
    for path in paths:
        for folder in (path or "").split(":"):
            if folder and folder not in seen:
                seen.append(folder)
    return ":".join(seen)


def _dockerd_paths(host: Host) -> list[str]:
    try:
        procs = host.processes() or []
    except HostError:
        procs = []
    return [p.env_path for p in procs if p.env_path and (
        p.name == "dockerd" or (p.cmdline and p.cmdline[0].endswith("/dockerd")))]


def _version_from(output: str) -> str | None:
    match = re.search(r"(?:version|cli-version:)\s*v?(\d+\.\d+(?:\.\d+)?(?:[-~.][\w.]+)?)",
                      output, re.IGNORECASE)
    return match.group(1) if match else None


def _mtime(host: Host, path: str, follow: bool = True) -> float | None:
    try:
        st = host.stat(path, follow=follow)
    except HostError:
        return None
    return st.mtime if st else None


def _dpkg_list_mtime(host: Host, package: str) -> tuple[float, str] | None:
    for name in (f"{package}.list", f"{package}:amd64.list", f"{package}:arm64.list"):
        path = f"{DPKG_INFO}/{name}"
        mtime = _mtime(host, path)
        if mtime:
            return mtime, path
    return None


def toolkit_config_path(env: Mapping[str, str]) -> tuple[str, str]:
    """The config.toml the toolkit reads with this environment, and why that one.

    The toolkit takes `$XDG_CONFIG_HOME/nvidia-container-runtime/config.toml` whenever
    XDG_CONFIG_HOME is set (a missing file then means built-in defaults, not /etc), and the
    hook gets dockerd's own environment (nvidia-container-stack.md §4, GetConfigFilePath).
    Facts and the no-cgroups fix both call this, so they always name the same file.
    """
    xdg = env.get("XDG_CONFIG_HOME")
    if xdg:
        return (f"{xdg.rstrip('/')}/nvidia-container-runtime/config.toml",
                "dockerd's XDG_CONFIG_HOME (the hook gets dockerd's environment)")
    return TOOLKIT_CONFIG, "the toolkit's default"


def read_toolkit_config(host: Host, daemon: DockerDaemon | None = None) -> ToolkitConfig:
    """config.toml as the hook started by this dockerd reads it (toolkit_config_path)."""
    from gpudoctor import tomlfile

    proc = daemon.process if daemon else None
    path, why = toolkit_config_path(proc.env if proc else {})
    cfg = ToolkitConfig(path=path, why=why)
    try:
        text = host.read_optional(path, 1024 * 1024)
    except HostError as exc:
        cfg.exists, cfg.error = True, exc.reason
        return cfg
    if text is None:
        return cfg
    cfg.exists = True
    try:
        doc = tomlfile.loads(text)
    except tomlfile.TomlError as exc:
        cfg.error = f"not valid TOML: {exc}"
        return cfg
    no_cgroups = tomlfile.get(doc, "nvidia-container-cli", "no-cgroups")
    mode = tomlfile.get(doc, "nvidia-container-runtime", "mode")
    cfg.no_cgroups = no_cgroups if isinstance(no_cgroups, bool) else None
    cfg.mode = mode if isinstance(mode, str) else None
    ldconfig = tomlfile.get(doc, "nvidia-container-cli", "ldconfig")
    cfg.ldconfig = ldconfig if isinstance(ldconfig, str) else None
    return cfg


def inspect_toolkit(host: Host, daemon: DockerDaemon | None = None) -> ToolkitInfo:
    """Find the toolkit: package database first, else its binaries; its version and config.

    Binaries are looked for on the person's PATH, systemd's default PATH and the PATH of the
    person's dockerd (of every dockerd when that one is not known).
    """
    info = ToolkitInfo()
    status = _read_big(host, DPKG_STATUS, 64 * 1024 * 1024)
    if status is not None:
        info.packages = parse_dpkg_status(status)
        if info.installed_packages:
            info.source = "dpkg"
    if not info.installed_packages:
        rpm = _rpm_packages(host)
        if rpm:
            info.packages, info.source = rpm, "rpm"
    daemon_paths = ([daemon.path_env] if daemon is not None and daemon.process is not None
                    else _dockerd_paths(host))
    info.search_path = _join_paths(host.getenv("PATH"), SERVICE_PATH, *daemon_paths)
    for name in BINARIES:
        found = host.which(name, info.search_path)
        if found:
            info.binaries[name] = found
    if info.source == "none" and (HOOK in info.binaries or RUNTIME in info.binaries):
        info.source = "binaries"
    main = info.installed_packages.get("nvidia-container-toolkit") or \
        info.installed_packages.get("nvidia-container-toolkit-base")
    if main is not None and main.version:
        info.version, info.version_source = main.version, f"the {main.source} database"
    elif info.binaries:
        for key, name, args in VERSION_COMMANDS:
            binary = info.binaries.get(name)
            if not binary:
                continue
            result = host.run(key, [binary, *args], timeout=COMMAND_TIMEOUT)
            if result is None or not result.ok:
                continue
            version = _version_from(result.stdout + "\n" + result.stderr)
            if version:
                info.version, info.version_source = version, f"`{name} {' '.join(args)}`"
                break
    log = _read_big(host, DPKG_LOG, 16 * 1024 * 1024) if info.source == "dpkg" else None
    if log:
        info.dpkg_event = last_dpkg_event(log)
    info.config = read_toolkit_config(host, daemon)
    return info


# ----- what the running daemon saw ---------------------------------------------------------------
@record
class DaemonHook:
    """Whether the running dockerd found the hook when it started (its `--gpus` driver)."""

    #: dockerd's PATH, or systemd's default when its environment could not be read
    path_env: str | None = None
    path_known: bool = False
    #: False when no dockerd process was seen (remote, not captured, or down)
    daemon_known: bool = False
    hook: str | None = None
    cdi_hook: str | None = None
    daemon_started: float | None = None
    hook_installed: float | None = None
    hook_evidence: str = ""
    installed_after_start: bool = False
    #: dpkg.log says the last change was an upgrade: an older hook was there at start
    upgraded_in_place: bool = False

    @property
    def registered(self) -> bool | None:
        """Whether dockerd registered its nvidia `--gpus` driver; None when unknown."""
        if not self.daemon_known:
            return None
        if self.hook is None:
            return False
        return not self.installed_after_start or self.upgraded_in_place


def daemon_hook(host: Host, toolkit: ToolkitInfo, daemon: DockerDaemon) -> DaemonHook:
    """Compare dockerd's PATH and start time with where and when the hook was installed."""
    state = DaemonHook()
    proc = daemon.process
    if proc is None:
        return state
    state.daemon_known = True
    state.path_known = proc.env_path is not None
    state.path_env = proc.env_path or SERVICE_PATH
    state.daemon_started = proc.create_time
    state.hook = host.which(HOOK, state.path_env)
    state.cdi_hook = host.which(CDI_HOOK, state.path_env)
    if state.hook is None:
        return state
    times: list[tuple[float, str]] = []
    for follow in (True, False):
        mtime = _mtime(host, state.hook, follow)
        if mtime:
            times.append((mtime, f"{state.hook} was modified"))
    if toolkit.source == "dpkg" and state.hook.startswith(("/usr/bin/", "/bin/")):
        listed = _dpkg_list_mtime(host, "nvidia-container-toolkit")
        if listed:
            times.append((listed[0], f"dpkg recorded the package's files ({listed[1]})"))
    if times:
        state.hook_installed, state.hook_evidence = max(times)
    if state.hook_installed is not None and state.daemon_started is not None:
        state.installed_after_start = (
            state.hook_installed > state.daemon_started + START_TIME_SLACK)
    event = toolkit.dpkg_event
    state.upgraded_in_place = bool(state.installed_after_start and event is not None
                                   and not event.first_install)
    return state


def daemon_hook_for(facts: Facts) -> DaemonHook:
    """daemon_hook for this run, computed once."""
    return facts.memo("toolkit.daemon_hook",
                      lambda: daemon_hook(facts.host, facts.toolkit, facts.docker))


def describe_time(when: float | None) -> str:
    """A UTC timestamp for evidence lines."""
    if when is None:
        return "unknown"
    import time

    return time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(when))


def toolkit_config_for(facts: Facts) -> ToolkitConfig:
    """config.toml as read by the hook the person's dockerd starts."""
    return facts.toolkit.config


__all__ = [
    "BINARIES", "CDI_HOOK", "HOOK", "PACKAGES", "RUNTIME", "DaemonHook", "DpkgEvent", "Package",
    "ToolkitConfig", "ToolkitInfo", "daemon_hook", "daemon_hook_for", "describe_time",
    "inspect_toolkit", "last_dpkg_event",
    "parse_dpkg_status", "read_toolkit_config", "toolkit_config_for", "toolkit_config_path",
]


