"""Which dockerd serves that endpoint, its mode, and which configuration it really reads."""

from __future__ import annotations

import re

from gpudoctor import TYPE_CHECKING
from gpudoctor.errors import HostError
from gpudoctor.facts.docker.config import DaemonConfig, read_daemon_config
from gpudoctor.facts.docker.endpoint import scheme_of, unix_socket_of
from gpudoctor.facts.docker.names import (
    DEFAULT_SOCKET,
    SNAP_CONFIG,
    SYSTEM_CONFIG,
    ConfigState,
    DaemonMode,
)
from gpudoctor.host.base import Host, ProcessInfo

if TYPE_CHECKING:
    from typing import Any

    from gpudoctor.facts.docker.daemon import DockerDaemon


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
    sockets = [unix_socket_of(h) or "" for h in hosts if h.startswith("unix://")]
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
        daemon.mode = DaemonMode.DESKTOP
        daemon.mode_evidence = f"the daemon reports OperatingSystem `{os_name}`"
        return
    if _desktop_socket(daemon.socket_path) or "desktop-linux" in daemon.endpoint_source:
        daemon.mode = DaemonMode.DESKTOP
        daemon.mode_evidence = (f"the endpoint {daemon.endpoint} ({daemon.endpoint_source}) is "
                                "Docker Desktop's")
        return
    if proc is None and not daemon.reachable and any(
            p.name.startswith("com.docker.") for p in procs):
        daemon.mode = DaemonMode.DESKTOP
        daemon.mode_evidence = "Docker Desktop's backend process (com.docker.backend) is running"
        return
    if scheme_of(daemon.endpoint) not in ("unix", ""):
        daemon.mode, daemon.mode_evidence = DaemonMode.REMOTE, (
            f"the endpoint {daemon.endpoint} is not a local socket")
        return
    exe = (proc.exe or (proc.cmdline[0] if proc.cmdline else "")) if proc else ""
    root_dir = str(info.get("DockerRootDir", ""))
    if exe.startswith("/snap/"):
        daemon.mode, daemon.mode_evidence = DaemonMode.SNAP, f"dockerd runs from {exe}"
        return
    if root_dir.startswith("/var/snap/docker/"):
        daemon.mode, daemon.mode_evidence = DaemonMode.SNAP, (
            f"the daemon's data root is {root_dir}, the Docker snap's")
        return
    rootless_parent = proc is not None and any(
        a.name in ("rootlesskit", "dockerd-rootless.sh") or
        (a.cmdline and a.cmdline[0].endswith(("rootlesskit", "dockerd-rootless.sh")))
        for a in _ancestors(procs, proc))
    sock = daemon.socket_path or ""
    if "name=rootless" in security:
        daemon.mode = DaemonMode.ROOTLESS
        daemon.mode_evidence = "the daemon lists `name=rootless` in its security options"
        return
    if proc is not None and (rootless_parent or proc.uid > 0):
        daemon.mode = DaemonMode.ROOTLESS
        daemon.mode_evidence = (f"dockerd (pid {proc.pid}) runs as UID {proc.uid}"
                                + (" under rootlesskit" if rootless_parent else ""))
        return
    if proc is None and not daemon.reachable and re.match(r"^/run/user/\d+/docker\.sock$", sock):
        daemon.mode = DaemonMode.ROOTLESS
        daemon.mode_evidence = f"the socket {sock} is a rootless Docker's (in XDG_RUNTIME_DIR)"
        return
    if proc is None and not daemon.reachable and host.is_dir("/snap/docker/current"):
        daemon.mode = DaemonMode.SNAP
        daemon.mode_evidence = "the Docker snap is installed (/snap/docker/current)"
        return
    if proc is not None:
        daemon.mode = DaemonMode.SYSTEM
        daemon.mode_evidence = f"dockerd (pid {proc.pid}) runs as root"
        return
    if daemon.reachable:
        daemon.mode, daemon.mode_evidence = DaemonMode.SYSTEM, (
            "the daemon answers on a system socket and reports no rootless, snap or Desktop "
            "traits")
        return
    if sock in (DEFAULT_SOCKET, "/run/docker.sock"):
        daemon.mode, daemon.mode_evidence = DaemonMode.SYSTEM, (
            f"the endpoint is the system socket {sock}; no dockerd process serves it")
        return
    daemon.mode, daemon.mode_evidence = DaemonMode.UNKNOWN, "no dockerd process or answer was seen"


def decide_config(host: Host, daemon: DockerDaemon) -> None:
    """The daemon.json the running dockerd really reads."""
    explicit = _flag(daemon.flags, "--config-file")
    if daemon.mode == "remote":
        daemon.config_path, daemon.config_source = "", "the daemon runs on another machine"
        daemon.config = DaemonConfig(path="", state=ConfigState.MISSING)
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
