"""The Docker daemon the person's `docker` talks to, and the configuration it really reads.

The toolkit maintainers' first question on most issues is "which daemon.json does your dockerd
use?" (nvidia-container-stack.md §8), so this answers it from the daemon's own command line and
mode (system, rootless, snap, Docker Desktop) rather than assuming /etc/docker/daemon.json.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from gpudoctor.errors import DockerUnavailable, HostError
from gpudoctor.host.base import Host, ProcessInfo

DEFAULT_SOCKET = "/var/run/docker.sock"
SYSTEM_CONFIG = "/etc/docker/daemon.json"
SNAP_CONFIG = "/var/snap/docker/current/config/daemon.json"
API_TIMEOUT = 5.0


@dataclass
class DaemonConfig:
    """A daemon.json as dockerd would parse it."""

    path: str
    exists: bool = False
    text: str | None = None
    data: dict[str, Any] | None = None
    #: "ok", "missing", "empty", "comments", "syntax", "not-object", "unreadable"
    state: str = "missing"
    error: str | None = None
    line: int | None = None
    column: int | None = None
    duplicate_keys: list[str] = field(default_factory=list)
    mtime: float | None = None

    @property
    def usable(self) -> bool:
        """True when dockerd (and gpudoctor's fixes) can read it: missing counts as `{}`."""
        return self.state in ("ok", "missing")

    def describe_error(self) -> str:
        where = f"line {self.line}, column {self.column}: " if self.line else ""
        return f"{self.path}: {where}{self.error}"


@dataclass
class DockerDaemon:
    endpoint: str
    endpoint_source: str
    reachable: bool = False
    error: str | None = None
    info: dict[str, Any] = field(default_factory=dict)
    version: dict[str, Any] = field(default_factory=dict)
    process: ProcessInfo | None = None
    processes_known: bool = True
    #: "system", "rootless", "snap", "desktop", "remote", or "unknown"
    mode: str = "unknown"
    mode_evidence: str = ""
    config_path: str = SYSTEM_CONFIG
    config_source: str = "the default for a system daemon"
    config: DaemonConfig = field(default_factory=lambda: DaemonConfig(SYSTEM_CONFIG))
    #: dockerd command-line flags, e.g. {"--config-file": ["/x.json"], "-H": ["fd://"]}
    flags: dict[str, list[str]] = field(default_factory=dict)
    #: keys set both in the file and as a dockerd flag (dockerd refuses to start then)
    conflicts: list[str] = field(default_factory=list)
    socket_path: str | None = None
    #: None when access is fine or unknown; else why the person cannot use the socket
    socket_problem: str | None = None

    @property
    def runtimes(self) -> dict[str, Any]:
        value = self.info.get("Runtimes")
        return value if isinstance(value, dict) else {}

    @property
    def server_version(self) -> str | None:
        return self.version.get("Version") or self.info.get("ServerVersion")

    @property
    def path_env(self) -> str | None:
        return self.process.env_path if self.process else None


def parse_daemon_json(path: str, text: str | None) -> DaemonConfig:
    """Parse strictly like dockerd: one JSON object, no comments, no NaN, no trailing junk."""
    cfg = DaemonConfig(path=path, exists=text is not None, text=text)
    if text is None:
        cfg.state = "missing"
        return cfg
    if not text.strip():
        cfg.state, cfg.error = "empty", (
            "the file is empty; dockerd fails to start with `unable to configure the Docker "
            f"daemon with file {path}: EOF`")
        return cfg
    duplicates: list[str] = []

    def pairs(items: list[tuple[str, Any]]) -> dict[str, Any]:
        seen: dict[str, Any] = {}
        for key, value in items:
            if key in seen:
                duplicates.append(key)
            seen[key] = value
        return seen

    def no_constants(name: str) -> Any:
        raise ValueError(f"{name} is not valid JSON")

    try:
        data = json.loads(text, object_pairs_hook=pairs, parse_constant=no_constants)
    except json.JSONDecodeError as exc:
        cfg.line, cfg.column = exc.lineno, exc.colno
        stripped = text.lstrip()
        if "//" in text or "/*" in text or stripped.startswith("#"):
            lines = text.splitlines()
            bad = lines[exc.lineno - 1] if 0 < exc.lineno <= len(lines) else ""
            if "//" in bad or "/*" in bad or bad.lstrip().startswith("#"):
                cfg.state, cfg.error = "comments", (
                    f"{exc.msg}; the file has a comment, which JSON (and dockerd) does not allow")
                return cfg
        cfg.state = "syntax"
        hint = ""
        if exc.msg.startswith("Expecting property name") or exc.msg.startswith("Expecting value"):
            before = text[: exc.pos].rstrip()
            if before.endswith(","):
                hint = " (a trailing comma before a closing bracket)"
        cfg.error = f"{exc.msg}{hint}"
        return cfg
    except ValueError as exc:
        cfg.state, cfg.error = "syntax", str(exc)
        return cfg
    if not isinstance(data, dict):
        cfg.state, cfg.error = "not-object", (
            f"the top level is a JSON {type(data).__name__}, dockerd needs an object")
        return cfg
    cfg.state, cfg.data, cfg.duplicate_keys = "ok", data, duplicates
    return cfg


def read_daemon_config(host: Host, path: str) -> DaemonConfig:
    try:
        text = host.read_optional(path, 1024 * 1024)
    except HostError as exc:
        return DaemonConfig(path=path, exists=True, state="unreadable", error=exc.reason)
    cfg = parse_daemon_json(path, text)
    st = host.stat(path) if text is not None else None
    cfg.mtime = st.mtime if st else None
    return cfg


# ----- which endpoint ------------------------------------------------------------------------------
def _context_endpoint(host: Host) -> tuple[str, str] | None:
    """The current docker context's endpoint, from ~/.docker (DOCKER_CONTEXT wins)."""
    import hashlib

    user = host.user()
    home = host.getenv("HOME") or (user.home if user else None)
    config_dir = host.getenv("DOCKER_CONFIG") or (f"{home}/.docker" if home else None)
    if not config_dir:
        return None
    name = host.getenv("DOCKER_CONTEXT")
    if not name:
        try:
            raw = host.read_optional(f"{config_dir}/config.json", 1024 * 1024)
            name = json.loads(raw).get("currentContext") if raw else None
        except (HostError, ValueError, AttributeError):
            name = None
    if not name or name == "default":
        return None
    meta = f"{config_dir}/contexts/meta/{hashlib.sha256(name.encode()).hexdigest()}/meta.json"
    try:
        raw = host.read_optional(meta, 1024 * 1024)
        doc = json.loads(raw) if raw else None
        endpoint = doc["Endpoints"]["docker"]["Host"] if doc else None
    except (HostError, ValueError, KeyError, TypeError):
        endpoint = None
    if not endpoint:
        return None
    return endpoint, f"the docker context `{name}`"


def choose_endpoint(host: Host) -> tuple[str, str]:
    """(endpoint, where it came from), the way the docker CLI chooses."""
    env = host.getenv("DOCKER_HOST")
    if env:
        return env, "DOCKER_HOST"
    ctx = _context_endpoint(host)
    if ctx:
        return ctx
    return f"unix://{DEFAULT_SOCKET}", "the default socket"


# ----- which process --------------------------------------------------------------------------------
def parse_flags(cmdline: tuple[str, ...]) -> dict[str, list[str]]:
    """dockerd's flags: `--flag=value`, `--flag value` and `-H value` forms."""
    flags: dict[str, list[str]] = {}
    args = list(cmdline[1:])
    i = 0
    while i < len(args):
        arg = args[i]
        if not arg.startswith("-"):
            i += 1
            continue
        if "=" in arg:
            name, _, value = arg.partition("=")
        elif i + 1 < len(args) and not args[i + 1].startswith("-"):
            name, value = arg, args[i + 1]
            i += 1
        else:
            name, value = arg, "true"
        flags.setdefault(name, []).append(value)
        i += 1
    return flags


def _flag(flags: dict[str, list[str]], *names: str) -> list[str]:
    values: list[str] = []
    for name in names:
        values.extend(flags.get(name, []))
    return values


#: dockerd flags whose daemon.json key is not the flag's own name.
FLAG_KEYS = {
    "-H": "hosts", "--host": "hosts", "--add-runtime": "runtimes", "--feature": "features",
    "-s": "storage-driver", "--exec-opt": "exec-opts", "--insecure-registry":
    "insecure-registries", "--registry-mirror": "registry-mirrors", "--label": "labels",
    "--cdi-spec-dir": "cdi-spec-dirs", "-D": "debug", "-l": "log-level", "-G": "group",
    "--storage-opt": "storage-opts", "--log-opt": "log-opts", "--dns-opt": "dns-opts",
    "--dns-search": "dns-search", "--authorization-plugin": "authorization-plugins",
    "--default-ulimit": "default-ulimits", "--node-generic-resource": "node-generic-resources",
}
NOT_CONFIG_FLAGS = frozenset({"--config-file", "--validate", "--version", "-v", "--help"})


def flag_conflicts(flags: dict[str, list[str]], data: dict[str, Any] | None) -> list[str]:
    if not data:
        return []
    conflicts = []
    for flag in flags:
        if flag in NOT_CONFIG_FLAGS:
            continue
        key = FLAG_KEYS.get(flag, flag.lstrip("-"))
        if key in data and key not in conflicts:
            conflicts.append(key)
    return conflicts


def _socket_of(endpoint: str) -> str | None:
    parts = urlsplit(endpoint)
    return (parts.path or DEFAULT_SOCKET) if parts.scheme == "unix" else None


def _matching_dockerd(procs: list[ProcessInfo], socket_path: str | None) -> ProcessInfo | None:
    daemons = [p for p in procs if p.name == "dockerd" or
               (p.cmdline and p.cmdline[0].rsplit("/", 1)[-1] == "dockerd")]
    if not daemons:
        return None
    if socket_path:
        for proc in daemons:
            hosts = _flag(parse_flags(proc.cmdline), "-H", "--host")
            if any(_socket_of(h) == socket_path for h in hosts if h.startswith("unix://")):
                return proc
        if socket_path == DEFAULT_SOCKET:
            for proc in daemons:
                hosts = _flag(parse_flags(proc.cmdline), "-H", "--host")
                if not hosts or any(h.startswith("fd://") for h in hosts):
                    return proc
    return daemons[0] if len(daemons) == 1 else None


def _ancestors(procs: list[ProcessInfo], proc: ProcessInfo) -> list[ProcessInfo]:
    by_pid = {p.pid: p for p in procs}
    chain, seen = [], set()
    current = by_pid.get(proc.ppid)
    while current is not None and current.pid not in seen:
        seen.add(current.pid)
        chain.append(current)
        current = by_pid.get(current.ppid)
    return chain


def _user_home(host: Host, uid: int) -> str | None:
    try:
        text = host.read_text("/etc/passwd")
    except HostError:
        return None
    for line in text.splitlines():
        parts = line.split(":")
        if len(parts) >= 6 and parts[2] == str(uid):
            return parts[5]
    return None


def decide_mode(host: Host, daemon: DockerDaemon, procs: list[ProcessInfo]) -> None:
    """system / rootless / snap / desktop / remote, with the evidence for it."""
    info = daemon.info
    proc = daemon.process
    security = " ".join(str(s) for s in info.get("SecurityOptions") or [])
    if str(info.get("OperatingSystem", "")).startswith("Docker Desktop") or any(
            p.name.startswith("com.docker.") for p in procs):
        daemon.mode = "desktop"
        daemon.mode_evidence = (f"docker info reports OperatingSystem "
                                f"`{info.get('OperatingSystem', '?')}`" if info else
                                "Docker Desktop's backend process is running")
        return
    endpoint_scheme = urlsplit(daemon.endpoint).scheme
    if endpoint_scheme not in ("unix", ""):
        daemon.mode, daemon.mode_evidence = "remote", f"the endpoint {daemon.endpoint} is remote"
        return
    exe = (proc.exe or (proc.cmdline[0] if proc.cmdline else "")) if proc else ""
    if exe.startswith("/snap/"):
        daemon.mode, daemon.mode_evidence = "snap", f"dockerd runs from {exe}"
        return
    rootless_parent = proc is not None and any(
        a.name in ("rootlesskit", "dockerd-rootless.sh") or
        (a.cmdline and a.cmdline[0].endswith("rootlesskit")) for a in _ancestors(procs, proc))
    if "name=rootless" in security or rootless_parent or (proc is not None and proc.uid > 0):
        daemon.mode = "rootless"
        daemon.mode_evidence = ("docker info lists `name=rootless` in its security options"
                                if "name=rootless" in security else
                                "dockerd runs under rootlesskit as an unprivileged user")
        return
    if proc is not None or daemon.reachable:
        daemon.mode, daemon.mode_evidence = "system", (
            f"dockerd (pid {proc.pid}) runs as root" if proc else "the daemon answers as root")
        return
    daemon.mode, daemon.mode_evidence = "unknown", "no dockerd process or answer was seen"


def decide_config(host: Host, daemon: DockerDaemon) -> None:
    """The daemon.json the running dockerd really reads."""
    explicit = _flag(daemon.flags, "--config-file")
    if explicit:
        daemon.config_path = explicit[-1]
        daemon.config_source = "`--config-file` on dockerd's command line"
    elif daemon.mode == "rootless":
        proc = daemon.process
        xdg = proc.env.get("XDG_CONFIG_HOME") if proc else None
        home = (proc.env.get("HOME") if proc else None) or (
            _user_home(host, proc.uid) if proc else None)
        if not home and not xdg:
            user = host.user()
            home = user.home if user else None
        base = xdg or (f"{home}/.config" if home else "~/.config")
        daemon.config_path = f"{base}/docker/daemon.json"
        daemon.config_source = "the default for rootless Docker ($XDG_CONFIG_HOME/docker)"
    elif daemon.mode == "snap":
        daemon.config_path, daemon.config_source = SNAP_CONFIG, "the default for the Docker snap"
    elif daemon.mode == "desktop":
        user = host.user()
        home = user.home if user else "~"
        daemon.config_path = f"{home}/.docker/daemon.json"
        daemon.config_source = "Docker Desktop's engine settings (inside its VM)"
    else:
        daemon.config_path, daemon.config_source = SYSTEM_CONFIG, "the default for a system daemon"
    daemon.config = read_daemon_config(host, daemon.config_path)
    daemon.conflicts = flag_conflicts(daemon.flags, daemon.config.data)


def check_socket_access(host: Host, daemon: DockerDaemon) -> None:
    path = daemon.socket_path
    user = host.user()
    if not path or user is None:
        return
    try:
        st = host.stat(path)
    except HostError as exc:
        daemon.socket_problem = f"{path}: {exc.reason}"
        return
    if st is None:
        return
    if user.uid == 0 or st.uid == user.uid or st.mode & 0o006 == 0o006:
        return
    if st.gid in user.groups or st.gid == user.gid:
        if st.mode & 0o060 == 0o060:
            return
        daemon.socket_problem = (f"{path} has mode {st.mode_octal}: its group cannot read and "
                                 "write it")
        return
    group = None
    try:
        from gpudoctor.facts.system import GroupDb

        group = GroupDb.load(host).name_of(st.gid)
    except HostError:
        group = None
    label = f"`{group}` (GID {st.gid})" if group else f"GID {st.gid}"
    daemon.socket_problem = (
        f"{path} is owned by group {label} with mode {st.mode_octal}, and {user.name} is not "
        f"in that group: run `sudo usermod -aG {group or st.gid} {user.name}` and log in again")


def discover_daemon(host: Host) -> DockerDaemon:
    endpoint, source = choose_endpoint(host)
    daemon = DockerDaemon(endpoint=endpoint, endpoint_source=source)
    daemon.socket_path = _socket_of(endpoint)
    try:
        daemon.info = host.docker_api("/info", endpoint, API_TIMEOUT) or {}
        daemon.reachable = True
        try:
            daemon.version = host.docker_api("/version", endpoint, API_TIMEOUT) or {}
        except DockerUnavailable:
            daemon.version = {}
    except DockerUnavailable as exc:
        daemon.error = str(exc)
    procs = host.processes()
    if procs is None:
        daemon.processes_known = False
        procs = []
    daemon.process = _matching_dockerd(procs, daemon.socket_path)
    if daemon.process is not None:
        daemon.flags = parse_flags(daemon.process.cmdline)
    decide_mode(host, daemon, procs)
    decide_config(host, daemon)
    if (daemon.reachable is False and daemon.error and "permission denied" in daemon.error) or not host.live:
        check_socket_access(host, daemon)
    return daemon
