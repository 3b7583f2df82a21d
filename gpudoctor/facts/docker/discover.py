"""Putting it together: socket access, why a daemon is down, and discover_daemon()."""

from __future__ import annotations

import re

from gpudoctor.errors import DockerUnavailable, HostError
from gpudoctor.facts.docker.daemon import DockerDaemon
from gpudoctor.facts.docker.endpoint import choose_endpoint, unix_socket_of
from gpudoctor.facts.docker.names import (
    API_TIMEOUT,
    CMD_DOCKER_JOURNAL,
    CMD_DOCKERD_VALIDATE,
    CMD_DOCKERD_VERSION,
    COMMAND_TIMEOUT,
    SERVICE_PATH,
)
from gpudoctor.facts.docker.process import (
    _matching_dockerd,
    decide_config,
    decide_mode,
    parse_flags,
)
from gpudoctor.host.base import Host
from gpudoctor.versions import version_tuple


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
    daemon.socket_path = unix_socket_of(endpoint)
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
