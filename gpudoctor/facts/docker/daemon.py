"""DockerDaemon: what is known about the daemon the person's `docker` talks to."""

from __future__ import annotations

from gpudoctor import TYPE_CHECKING
from gpudoctor.facts.docker.config import DaemonConfig
from gpudoctor.facts.docker.names import SYSTEM_CONFIG, DaemonMode
from gpudoctor.facts.docker.process import _flag
from gpudoctor.host.base import CommandResult, ProcessInfo
from gpudoctor.record import field, record
from gpudoctor.versions import version_tuple

if TYPE_CHECKING:
    from typing import Any


@record
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
    mode: DaemonMode = DaemonMode.UNKNOWN
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
