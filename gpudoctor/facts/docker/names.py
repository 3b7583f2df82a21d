"""Paths, timeouts, the daemon.json keys dockerd knows, and the stable names of commands run."""

from __future__ import annotations

import enum

from gpudoctor.host.base import DEFAULT_PATH


class TextEnum(str, enum.Enum):
    """An enum whose members are their text: equal to it, and printed and serialised as it."""

    def __str__(self) -> str:
        return str(self.value)

    def __format__(self, spec: str) -> str:
        return format(str(self.value), spec)


class DaemonMode(TextEnum):
    """How the Docker daemon the person's `docker` talks to runs."""

    SYSTEM = "system"
    ROOTLESS = "rootless"
    SNAP = "snap"
    DESKTOP = "desktop"
    REMOTE = "remote"
    UNKNOWN = "unknown"


class ConfigState(TextEnum):
    """What reading a daemon.json found."""

    OK = "ok"
    MISSING = "missing"
    EMPTY = "empty"
    COMMENTS = "comments"
    SYNTAX = "syntax"
    NOT_OBJECT = "not-object"
    UNREADABLE = "unreadable"

DEFAULT_SOCKET = "/var/run/docker.sock"
SYSTEM_CONFIG = "/etc/docker/daemon.json"
SNAP_CONFIG = "/var/snap/docker/current/config/daemon.json"
API_TIMEOUT = 5.0
COMMAND_TIMEOUT = 10.0
#: systemd's default PATH for services: what dockerd gets when its environment is unreadable.
SERVICE_PATH = DEFAULT_PATH

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
