"""The Docker daemon the person's `docker` talks to, and the configuration it really reads.

The toolkit maintainers' first question on most issues is "which daemon.json does your dockerd
use?" (nvidia-container-stack.md §8), so this answers it from the daemon's own command line and
mode (system, rootless, snap, Docker Desktop) rather than assuming /etc/docker/daemon.json.
Every Engine API call and command here has a timeout; nothing is changed on the host.
"""

from __future__ import annotations

from gpudoctor.facts.docker.config import DaemonConfig, parse_daemon_json, read_daemon_config
from gpudoctor.facts.docker.daemon import DockerDaemon
from gpudoctor.facts.docker.discover import (
    check_socket_access,
    discover_daemon,
    read_journal,
    validate_config,
)
from gpudoctor.facts.docker.endpoint import choose_endpoint
from gpudoctor.facts.docker.names import (
    API_TIMEOUT,
    CMD_DOCKER_JOURNAL,
    CMD_DOCKERD_VALIDATE,
    CMD_DOCKERD_VERSION,
    COMMAND_TIMEOUT,
    DEFAULT_SOCKET,
    KNOWN_KEYS,
    SERVICE_PATH,
    SNAP_CONFIG,
    SYSTEM_CONFIG,
    ConfigState,
    DaemonMode,
    TextEnum,
)
from gpudoctor.facts.docker.process import (
    FLAG_KEYS,
    NOT_CONFIG_FLAGS,
    decide_config,
    decide_mode,
    flag_conflicts,
    listen_sockets,
    other_config_files,
    parse_flags,
    rootless_config_path,
    user_home,
)
from gpudoctor.versions import version_tuple

__all__ = [
    "API_TIMEOUT",
    "CMD_DOCKERD_VALIDATE",
    "CMD_DOCKERD_VERSION",
    "CMD_DOCKER_JOURNAL",
    "COMMAND_TIMEOUT",
    "DEFAULT_SOCKET",
    "FLAG_KEYS",
    "KNOWN_KEYS",
    "NOT_CONFIG_FLAGS",
    "SERVICE_PATH",
    "SNAP_CONFIG",
    "SYSTEM_CONFIG",
    "ConfigState",
    "DaemonConfig",
    "DaemonMode",
    "DockerDaemon",
    "TextEnum",
    "check_socket_access",
    "choose_endpoint",
    "decide_config",
    "decide_mode",
    "discover_daemon",
    "flag_conflicts",
    "listen_sockets",
    "other_config_files",
    "parse_daemon_json",
    "parse_flags",
    "read_daemon_config",
    "read_journal",
    "rootless_config_path",
    "user_home",
    "validate_config",
    "version_tuple",
]
