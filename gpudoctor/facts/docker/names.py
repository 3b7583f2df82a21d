"""Paths, timeouts, the daemon.json keys dockerd knows, and the stable names of commands run."""

from __future__ import annotations

from gpudoctor.host.base import DEFAULT_PATH

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
