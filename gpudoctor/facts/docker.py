"""The Docker daemon the person's `docker` talks to, and the configuration it really reads.

The toolkit maintainers' first question on most issues is "which daemon.json does your dockerd
use?" (nvidia-container-stack.md §8), so this answers it from the daemon's own command line and
mode (system, rootless, snap, Docker Desktop) rather than assuming /etc/docker/daemon.json.
Every Engine API call and command here has a timeout; nothing is changed on the host.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from gpudoctor.errors import DockerUnavailable, HostError
from gpudoctor.host.base import CommandResult, Host, ProcessInfo

DEFAULT_SOCKET = "/var/run/docker.sock"
SYSTEM_CONFIG = "/etc/docker/daemon.json"
SNAP_CONFIG = "/var/snap/docker/current/config/daemon.json"
API_TIMEOUT = 5.0
COMMAND_TIMEOUT = 10.0
#: systemd's default PATH for services: what dockerd gets when its environment is unreadable.
SERVICE_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

#: Stable names of the commands this module runs (host.json `commands` keys).
CMD_DOCKERD_VERSION = "dockerd-version"
CMD_DOCKERD_VALIDATE = "dockerd-validate"
CMD_DOCKER_JOURNAL = "journalctl-docker"

#: Top-level daemon.json keys of current dockerd, used only to name likely typos (dockerd
#: refuses unknown keys: "the following directives don't match any configuration option").
KNOWN_KEYS = frozenset({
    "allow-nondistributable-artifacts", "api-cors-header", "authorization-plugins", "bip",
    "bip6", "bridge", "builder", "cdi-spec-dirs", "cgroup-parent", "containerd",
    "containerd-namespace", "containerd-plugin-namespace", "data-root", "debug",
    "default-address-pools", "default-cgroupns-mode", "default-gateway", "default-gateway-v6",
    "default-ipc-mode", "default-network-opts", "default-runtime", "default-shm-size",
    "default-ulimits", "dns", "dns-opts", "dns-search", "exec-opts", "exec-root",
    "experimental", "features", "fixed-cidr", "fixed-cidr-v6", "group", "host-gateway-ip",
    "hosts", "icc", "init", "init-path", "insecure-registries", "ip", "ip-forward",
    "ip-masq", "ip6tables", "iptables", "ipv6", "labels", "live-restore", "log-driver",
    "log-format", "log-level", "log-opts", "max-concurrent-downloads",
    "max-concurrent-uploads", "max-download-attempts", "metrics-addr", "min-api-version",
    "mtu", "no-new-privileges", "node-generic-resources", "oom-score-adjust", "pidfile",
    "proxies", "raw-logs", "registry-mirrors", "runtimes", "seccomp-profile",
    "selinux-enabled", "shutdown-timeout", "storage-driver", "storage-opts",
    "swarm-default-advertise-addr", "tls", "tlscacert", "tlscert", "tlskey", "tlsverify",
    "userland-proxy", "userland-proxy-path", "userns-remap",
})


# ----- daemon.json -------------------------------------------------------------------------------
@dataclass
class DaemonConfig:
    """A daemon.json as dockerd would parse it.

    state: "ok", "missing", "empty", "comments", "syntax", "not-object" or "unreadable".
    `data` is the parsed object when state is "ok". `notes` are things dockerd accepts or
    ignores but a person should know (duplicate keys, text after the object, likely typos).
    """

    path: str
    exists: bool = False
    text: str | None = None
    data: dict[str, Any] | None = None
    state: str = "missing"
    error: str | None = None
    line: int | None = None
    column: int | None = None
    duplicate_keys: list[str] = field(default_factory=list)
    #: what most likely caused a syntax error, e.g. "a trailing comma at line 7, column 6"
    cause: str | None = None
    #: unknown top-level key -> the known key it probably means
    typos: dict[str, str] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    mtime: float | None = None
    #: the file's exact bytes (None when missing): fixes compare and keep these, since `text`
    #: shows bytes that are not UTF-8 as U+FFFD
    raw: bytes | None = None

    @property
    def exact_text(self) -> str | None:
        """The bytes as text that encodes back to exactly them (`surrogateescape`)."""
        return self.raw.decode("utf-8", "surrogateescape") if self.raw is not None else None

    @property
    def usable(self) -> bool:
        """True when dockerd (and gpudoctor's fixes) can read it: missing counts as `{}`."""
        return self.state in ("ok", "missing")

    @property
    def broken(self) -> bool:
        """True when dockerd refuses to start with this file."""
        return self.state in ("comments", "syntax", "not-object", "unreadable") or (
            self.state == "ok" and bool(self.typos))

    @property
    def values(self) -> dict[str, Any]:
        """The parsed keys ({} for a missing or broken file)."""
        return self.data or {}

    def describe_error(self) -> str:
        where = f"line {self.line}, column {self.column}: " if self.line else ""
        return f"{self.path}: {where}{self.error}"


def _line_col(text: str, pos: int) -> tuple[int, int]:
    line = text.count("\n", 0, pos) + 1
    return line, pos - (text.rfind("\n", 0, pos) + 1) + 1


def _similar_key(key: str) -> str | None:
    import difflib

    if key in KNOWN_KEYS:
        return None
    normal = key.replace("_", "-").lower()
    if normal in KNOWN_KEYS:
        return normal
    close = difflib.get_close_matches(normal, KNOWN_KEYS, n=1, cutoff=0.85)
    return close[0] if close else None


def parse_daemon_json(path: str, text: str | None) -> DaemonConfig:
    """Parse strictly like dockerd: one JSON object, no comments, no NaN, no trailing commas."""
    cfg = DaemonConfig(path=path, exists=text is not None, text=text)
    if text is None:
        cfg.state = "missing"
        return cfg
    if text.startswith("\ufeff"):
        text = text[1:]  # current dockerd strips a UTF-8 byte order mark
    if not text.strip():
        cfg.state, cfg.error = "empty", (
            "the file is empty (or only whitespace): Docker 20.10 and older refuse to start "
            f"with `unable to configure the Docker daemon with file {path}: EOF`; newer "
            "releases read it as {}")
        return cfg
    duplicates: list[str] = []

    def pairs(items: list[tuple[str, Any]]) -> dict[str, Any]:
        seen: dict[str, Any] = {}
        for key, value in items:
            if key in seen and key not in duplicates:
                duplicates.append(key)
            seen[key] = value
        return seen

    def no_constants(name: str) -> Any:
        raise ValueError(f"{name} is not valid JSON")

    decoder = json.JSONDecoder(object_pairs_hook=pairs, parse_constant=no_constants)
    start = len(text) - len(text.lstrip())
    try:
        data, end = decoder.raw_decode(text, start)
    except json.JSONDecodeError as exc:
        cfg.line, cfg.column = exc.lineno, exc.colno
        if text[exc.pos:].startswith(("//", "/*", "#")):
            cfg.state = "comments"
            cfg.error = (f"{exc.msg}: the file has a comment, which JSON (and dockerd) does not "
                         "allow; dockerd will not start with it")
            return cfg
        cfg.state = "syntax"
        hint = ""
        before = text[: exc.pos].rstrip()
        if before.endswith(",") and text[exc.pos:exc.pos + 1] in ("}", "]"):
            line, col = _line_col(text, len(before) - 1)
            cfg.cause = f"a trailing comma at line {line}, column {col}"
            hint = f" ({cfg.cause}, before the closing `{text[exc.pos]}`)"
        cfg.error = f"{exc.msg}{hint}: dockerd will not start with this file"
        return cfg
    except ValueError as exc:
        cfg.state, cfg.error = "syntax", f"{exc}: dockerd will not start with this file"
        return cfg
    except RecursionError:
        cfg.state, cfg.error = "syntax", ("its JSON is nested thousands of levels deep, which "
                                          "no daemon configuration is; dockerd will not start "
                                          "with this file")
        return cfg
    if not isinstance(data, dict):
        cfg.state, cfg.error = "not-object", (
            f"the top level is a JSON {type(data).__name__}, but dockerd needs an object "
            "(`{ ... }`): it will not start with this file")
        return cfg
    rest = text[end:]
    if rest.strip():
        offset = end + len(rest) - len(rest.lstrip())
        line, col = _line_col(text, offset)
        cfg.notes.append(
            f"text after the JSON object at line {line}, column {col}: Docker 20.10 ignores "
            "it, newer dockerd refuses the file (`invalid character ... after top-level value`)")
    cfg.state, cfg.data, cfg.duplicate_keys = "ok", data, duplicates
    for key in duplicates:
        cfg.notes.append(f"`{key}` is set more than once; dockerd uses the last one")
    for key in data:
        similar = _similar_key(key)
        if similar:
            cfg.typos[key] = similar
    return cfg


def read_daemon_config(host: Host, path: str) -> DaemonConfig:
    """Read and parse one daemon.json through the host layer."""
    try:
        raw = None
        if host.exists(path) or host.is_link(path):
            raw = host.read_bytes(path, 1024 * 1024)
    except HostError as exc:
        return DaemonConfig(path=path, exists=True, state="unreadable", error=exc.reason)
    text = raw.decode("utf-8", errors="replace") if raw is not None else None
    cfg = parse_daemon_json(path, text)
    cfg.raw = raw
    try:
        st = host.stat(path) if text is not None else None
    except HostError:
        st = None
    cfg.mtime = st.mtime if st else None
    return cfg


# ----- the daemon --------------------------------------------------------------------------------
@dataclass
class DockerDaemon:
    """What gpudoctor knows about the daemon behind the person's `docker`."""

    endpoint: str
    endpoint_source: str
    reachable: bool = False
    #: the client's error when the daemon could not be asked
    error: str | None = None
    #: False in a host root whose host.json has no `docker` key: the live state is unknown
    captured: bool = True
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
    #: `dockerd --validate` on the config file, where it was run (Docker 23+)
    validation: CommandResult | None = None
    #: lines of the daemon's own log explaining why it is down (journald), where found
    journal_errors: list[str] = field(default_factory=list)
    #: the dockerd binary's version when the daemon is down (`dockerd --version`)
    binary_version: str | None = None

    @property
    def runtimes(self) -> dict[str, Any]:
        """Runtimes the running daemon has loaded (Engine API /info `Runtimes`)."""
        value = self.info.get("Runtimes")
        return value if isinstance(value, dict) else {}

    @property
    def default_runtime(self) -> str | None:
        value = self.info.get("DefaultRuntime")
        return str(value) if value else None

    @property
    def server_version(self) -> str | None:
        return self.version.get("Version") or self.info.get("ServerVersion") or (
            self.binary_version)

    @property
    def version_tuple(self) -> tuple[int, int, int] | None:
        return version_tuple(self.server_version)

    def at_least(self, *wanted: int) -> bool | None:
        """Whether the daemon is at least this version; None when its version is unknown."""
        have = self.version_tuple
        if have is None:
            return None
        return have >= tuple(wanted) + (0,) * (3 - len(wanted))

    @property
    def path_env(self) -> str | None:
        """PATH in dockerd's environment (None when it could not be read)."""
        return self.process.env_path if self.process else None

    @property
    def security_options(self) -> list[str]:
        return [str(s) for s in self.info.get("SecurityOptions") or []]

    @property
    def cdi_spec_dirs(self) -> list[str] | None:
        """CDISpecDirs from /info: None when this Docker does not report it (< 25)."""
        value = self.info.get("CDISpecDirs")
        return [str(v) for v in value] if isinstance(value, list) else None

    def flag_values(self, *names: str) -> list[str]:
        return _flag(self.flags, *names)

    def unknown_runtime_error(self, name: str = "nvidia") -> str:
        """What this daemon answers to `--runtime=NAME` for a runtime it has not loaded."""
        if self.at_least(23) is False:
            return f"Unknown runtime specified {name}"  # Docker 20.10 and older
        return f"unknown or invalid runtime name: {name}"

    def start_command(self) -> str:
        """The command that starts (or restarts) this kind of daemon."""
        return {
            "rootless": "systemctl --user start docker",
            "snap": "sudo snap start docker",
            "desktop": "systemctl --user start docker-desktop",
        }.get(self.mode, "sudo systemctl start docker")

    def restart_command(self) -> str:
        return {
            "rootless": "systemctl --user restart docker",
            "snap": "sudo snap restart docker",
            "desktop": "systemctl --user restart docker-desktop",
        }.get(self.mode, "sudo systemctl restart docker")


def version_tuple(version: str | None) -> tuple[int, int, int] | None:
    """"20.10.24+dfsg1" -> (20, 10, 24); None when it does not start with a version."""
    if not version:
        return None
    match = re.match(r"\s*v?(\d+)\.(\d+)(?:\.(\d+))?", str(version))
    if not match:
        return None
    return int(match.group(1)), int(match.group(2)), int(match.group(3) or 0)


# ----- which endpoint ----------------------------------------------------------------------------
def _context_endpoint(host: Host) -> tuple[str, str] | None:
    """The current docker context's endpoint, from ~/.docker (DOCKER_CONTEXT wins)."""
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
    import hashlib  # only when a context other than `default` is in use

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


# ----- which process -----------------------------------------------------------------------------
def parse_flags(cmdline: tuple[str, ...] | list[str]) -> dict[str, list[str]]:
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
    "-g": "data-root", "-p": "pidfile", "-b": "bridge",
}
NOT_CONFIG_FLAGS = frozenset({"--config-file", "--validate", "--version", "-v", "--help"})


def flag_conflicts(flags: dict[str, list[str]], data: dict[str, Any] | None) -> list[str]:
    """daemon.json keys also given as dockerd flags: dockerd refuses to start or reload then."""
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


def _is_dockerd(proc: ProcessInfo) -> bool:
    base = proc.cmdline[0].rsplit("/", 1)[-1] if proc.cmdline else ""
    return proc.name == "dockerd" or base == "dockerd"


def _matching_dockerd(host: Host, procs: list[ProcessInfo],
                      socket_path: str | None) -> ProcessInfo | None:
    """The dockerd that listens on the person's socket (by its -H flags)."""
    daemons = [p for p in procs if _is_dockerd(p)]
    if not daemons:
        return None
    if socket_path:
        wanted = {socket_path, _realpath(host, socket_path)}
        for proc in daemons:
            for sock in listen_sockets(proc):
                if sock in wanted or _realpath(host, sock) in wanted:
                    return proc
        return None
    return daemons[0] if len(daemons) == 1 else None


def listen_sockets(proc: ProcessInfo) -> list[str]:
    """The unix sockets a dockerd serves: its -H flags, else its mode's default socket.

    `-H fd://` (systemd socket activation) is the system socket; a rootless dockerd without -H
    listens in its XDG_RUNTIME_DIR.
    """
    hosts = _flag(parse_flags(proc.cmdline), "-H", "--host")
    sockets = [_socket_of(h) or "" for h in hosts if h.startswith("unix://")]
    if any(h.startswith("fd://") for h in hosts):
        sockets += [DEFAULT_SOCKET, "/run/docker.sock"]
    if not hosts:
        if proc.uid > 0:
            runtime_dir = proc.env.get("XDG_RUNTIME_DIR") or f"/run/user/{proc.uid}"
            sockets.append(f"{runtime_dir}/docker.sock")
        else:
            sockets += [DEFAULT_SOCKET, "/run/docker.sock"]
    return [s for s in sockets if s]


def _realpath(host: Host, path: str) -> str:
    try:
        return host.realpath(path)
    except (HostError, OSError):
        return path


def _ancestors(procs: list[ProcessInfo], proc: ProcessInfo) -> list[ProcessInfo]:
    by_pid = {p.pid: p for p in procs}
    chain, seen = [], set()
    current = by_pid.get(proc.ppid)
    while current is not None and current.pid not in seen:
        seen.add(current.pid)
        chain.append(current)
        current = by_pid.get(current.ppid)
    return chain


def user_home(host: Host, uid: int) -> str | None:
    """A user's home folder from /etc/passwd."""
    try:
        text = host.read_text("/etc/passwd")
    except HostError:
        return None
    for line in text.splitlines():
        parts = line.split(":")
        if len(parts) >= 6 and parts[2] == str(uid):
            return parts[5]
    return None


def _desktop_socket(path: str | None) -> bool:
    return bool(path) and "/.docker/desktop/" in str(path)


def decide_mode(host: Host, daemon: DockerDaemon, procs: list[ProcessInfo]) -> None:
    """system / rootless / snap / desktop / remote, with the evidence for it."""
    info = daemon.info
    proc = daemon.process
    security = " ".join(daemon.security_options)
    os_name = str(info.get("OperatingSystem", ""))
    if os_name.startswith("Docker Desktop"):
        daemon.mode = "desktop"
        daemon.mode_evidence = f"the daemon reports OperatingSystem `{os_name}`"
        return
    if _desktop_socket(daemon.socket_path) or "desktop-linux" in daemon.endpoint_source:
        daemon.mode = "desktop"
        daemon.mode_evidence = (f"the endpoint {daemon.endpoint} ({daemon.endpoint_source}) is "
                                "Docker Desktop's")
        return
    if proc is None and not daemon.reachable and any(
            p.name.startswith("com.docker.") for p in procs):
        daemon.mode = "desktop"
        daemon.mode_evidence = "Docker Desktop's backend process (com.docker.backend) is running"
        return
    if urlsplit(daemon.endpoint).scheme not in ("unix", ""):
        daemon.mode, daemon.mode_evidence = "remote", (
            f"the endpoint {daemon.endpoint} is not a local socket")
        return
    exe = (proc.exe or (proc.cmdline[0] if proc.cmdline else "")) if proc else ""
    root_dir = str(info.get("DockerRootDir", ""))
    if exe.startswith("/snap/"):
        daemon.mode, daemon.mode_evidence = "snap", f"dockerd runs from {exe}"
        return
    if root_dir.startswith("/var/snap/docker/"):
        daemon.mode, daemon.mode_evidence = "snap", (
            f"the daemon's data root is {root_dir}, the Docker snap's")
        return
    rootless_parent = proc is not None and any(
        a.name in ("rootlesskit", "dockerd-rootless.sh") or
        (a.cmdline and a.cmdline[0].endswith(("rootlesskit", "dockerd-rootless.sh")))
        for a in _ancestors(procs, proc))
    sock = daemon.socket_path or ""
    if "name=rootless" in security:
        daemon.mode = "rootless"
        daemon.mode_evidence = "the daemon lists `name=rootless` in its security options"
        return
    if rootless_parent or (proc is not None and proc.uid > 0):
        daemon.mode = "rootless"
        daemon.mode_evidence = (f"dockerd (pid {proc.pid}) runs as UID {proc.uid}"
                                + (" under rootlesskit" if rootless_parent else ""))
        return
    if proc is None and not daemon.reachable and re.match(r"^/run/user/\d+/docker\.sock$", sock):
        daemon.mode = "rootless"
        daemon.mode_evidence = f"the socket {sock} is a rootless Docker's (in XDG_RUNTIME_DIR)"
        return
    if proc is None and not daemon.reachable and host.is_dir("/snap/docker/current"):
        daemon.mode = "snap"
        daemon.mode_evidence = "the Docker snap is installed (/snap/docker/current)"
        return
    if proc is not None:
        daemon.mode, daemon.mode_evidence = "system", f"dockerd (pid {proc.pid}) runs as root"
        return
    if daemon.reachable:
        daemon.mode, daemon.mode_evidence = "system", (
            "the daemon answers on a system socket and reports no rootless, snap or Desktop "
            "traits")
        return
    if sock in (DEFAULT_SOCKET, "/run/docker.sock"):
        daemon.mode, daemon.mode_evidence = "system", (
            f"the endpoint is the system socket {sock}; no dockerd process serves it")
        return
    daemon.mode, daemon.mode_evidence = "unknown", "no dockerd process or answer was seen"


def decide_config(host: Host, daemon: DockerDaemon) -> None:
    """The daemon.json the running dockerd really reads."""
    explicit = _flag(daemon.flags, "--config-file")
    if daemon.mode == "remote":
        daemon.config_path, daemon.config_source = "", "the daemon runs on another machine"
        daemon.config = DaemonConfig(path="", state="missing")
        return
    if explicit:
        daemon.config_path = explicit[-1]
        daemon.config_source = "`--config-file` on dockerd's command line"
    elif daemon.mode == "rootless":
        daemon.config_path = rootless_config_path(host, daemon)
        daemon.config_source = "the default for rootless Docker ($XDG_CONFIG_HOME/docker)"
    elif daemon.mode == "snap":
        daemon.config_path, daemon.config_source = SNAP_CONFIG, "the default for the Docker snap"
    elif daemon.mode == "desktop":
        user = host.user()
        home = user.home if user and user.home else "~"
        daemon.config_path = f"{home}/.docker/daemon.json"
        daemon.config_source = ("Docker Desktop's engine settings (copied into its VM; edit them "
                                "in Settings > Docker Engine)")
    else:
        daemon.config_path, daemon.config_source = SYSTEM_CONFIG, "the default for a system daemon"
    daemon.config = read_daemon_config(host, daemon.config_path)
    daemon.conflicts = flag_conflicts(daemon.flags, daemon.config.data)


def rootless_config_path(host: Host, daemon: DockerDaemon) -> str:
    """$XDG_CONFIG_HOME/docker/daemon.json of the user running rootless dockerd."""
    proc = daemon.process
    xdg = proc.env.get("XDG_CONFIG_HOME") if proc else None
    home = proc.env.get("HOME") if proc else None
    if not home and proc is not None:
        home = user_home(host, proc.uid)
    if not home and not xdg:
        match = re.match(r"^/run/user/(\d+)/", daemon.socket_path or "")
        if match:
            home = user_home(host, int(match.group(1)))
    if not home and not xdg:
        user = host.user()
        home = user.home if user else None
    base = xdg or (f"{home}/.config" if home else "~/.config")
    return f"{base}/docker/daemon.json"


def other_config_files(host: Host, daemon: DockerDaemon) -> list[DaemonConfig]:
    """daemon.json files that exist but that this daemon does NOT read.

    The classic trap: `nvidia-ctk runtime configure` (or a person) edits /etc/docker/daemon.json
    while a snap, rootless or `--config-file` daemon reads another file.
    """
    candidates = [SYSTEM_CONFIG, SNAP_CONFIG]
    user = host.user()
    if user and user.home:
        candidates.append(f"{user.home}/.config/docker/daemon.json")
    found = []
    for path in candidates:
        if path == daemon.config_path:
            continue
        try:
            present = host.exists(path)
        except HostError:
            present = False
        if present:
            found.append(read_daemon_config(host, path))
    return found


# ----- access to the socket ----------------------------------------------------------------------
def check_socket_access(host: Host, daemon: DockerDaemon) -> None:
    """Whether the person (not root, or root under sudo) may use the daemon's socket."""
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
    from gpudoctor.facts.system import GroupDb  # it records an unreadable /etc/group itself

    group = GroupDb.load(host).name_of(st.gid)
    label = f"`{group}` (GID {st.gid})" if group else f"GID {st.gid}"
    if st.gid == 0:
        daemon.socket_problem = (
            f"{path} is owned by root:{group or 0} with mode {st.mode_octal}, so only root may "
            f"use it and {user.name} is not root: use sudo, or give the socket a `docker` "
            "group (`sudo groupadd docker`, then restart the daemon, which hands its socket to "
            f"that group) and add {user.name} to it")
        return
    daemon.socket_problem = (
        f"{path} is owned by group {label} with mode {st.mode_octal}, and {user.name} is not "
        f"in that group: run `sudo usermod -aG {group or st.gid} {user.name}` and log in again "
        "(or `newgrp docker` in this shell)")


# ----- why a daemon is down ----------------------------------------------------------------------
def _dockerd_binary(host: Host, daemon: DockerDaemon) -> str | None:
    if daemon.process and daemon.process.exe:
        return daemon.process.exe
    if daemon.mode in ("desktop", "remote"):
        return None
    return host.which("dockerd", host.getenv("PATH") or SERVICE_PATH) or host.which(
        "dockerd", SERVICE_PATH)


def validate_config(host: Host, daemon: DockerDaemon) -> None:
    """Ask dockerd itself about its config file (`dockerd --validate`, Docker 23+).

    Only run where the binary says it is new enough: an old dockerd given an unknown flag exits,
    but gpudoctor never risks starting a second daemon.
    """
    binary = _dockerd_binary(host, daemon)
    if not binary:
        return
    have = daemon.version_tuple
    if have is None:
        result = host.run(CMD_DOCKERD_VERSION, [binary, "--version"], timeout=COMMAND_TIMEOUT)
        if result is not None and result.ok:
            match = re.search(r"version\s+v?([0-9][^\s,]*)", result.stdout)
            if match:
                daemon.binary_version = match.group(1)
        have = version_tuple(daemon.binary_version)
    if have is None or have < (23, 0, 0):
        return
    daemon.validation = host.run(
        CMD_DOCKERD_VALIDATE, [binary, "--validate", f"--config-file={daemon.config_path}"],
        timeout=COMMAND_TIMEOUT)


def read_journal(host: Host, daemon: DockerDaemon) -> None:
    """The last errors a system dockerd logged (why it stopped or did not start)."""
    if daemon.mode not in ("system", "unknown"):
        return
    result = host.run(CMD_DOCKER_JOURNAL,
                      ["journalctl", "-u", "docker.service", "-n", "30", "--no-pager", "-o",
                       "cat"], timeout=COMMAND_TIMEOUT)
    if result is None or not result.ok:
        return
    keys = ("unable to configure", "failed to start daemon", "level=fatal", "error starting",
            "failed to load listeners", "specified both as a flag")
    lines = [ln.strip() for ln in result.stdout.splitlines()
             if any(k in ln.lower() for k in keys)]
    daemon.journal_errors = lines[-3:]


def discover_daemon(host: Host) -> DockerDaemon:
    """Find the person's daemon, ask it, and read the configuration it really uses."""
    endpoint, source = choose_endpoint(host)
    daemon = DockerDaemon(endpoint=endpoint, endpoint_source=source)
    daemon.socket_path = _socket_of(endpoint)
    capture = getattr(host, "has_docker_capture", None)
    if not host.live and callable(capture) and not capture():
        daemon.captured = False
    try:
        info = host.docker_api("/info", endpoint, API_TIMEOUT)
        daemon.info = info if isinstance(info, dict) else {}
        daemon.reachable = True
        try:
            version = host.docker_api("/version", endpoint, API_TIMEOUT)
            daemon.version = version if isinstance(version, dict) else {}
        except DockerUnavailable:
            daemon.version = {}
    except DockerUnavailable as exc:
        daemon.error = str(exc)
    procs = host.processes()
    if procs is None:
        daemon.processes_known = False
        procs = []
    daemon.process = _matching_dockerd(host, procs, daemon.socket_path)
    if daemon.process is not None:
        daemon.flags = parse_flags(daemon.process.cmdline)
    decide_mode(host, daemon, procs)
    decide_config(host, daemon)
    check_socket_access(host, daemon)
    down = daemon.captured and not daemon.reachable and daemon.socket_problem is None
    if down or daemon.config.broken or daemon.conflicts:
        validate_config(host, daemon)
    if down and daemon.process is None:
        read_journal(host, daemon)
    return daemon
