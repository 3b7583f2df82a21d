"""Podman: its version, rootful or rootless, the CDI specs it will read, its OCI runtime, and
NVIDIA's legacy OCI hook.

Podman has no daemon: `--device nvidia.com/gpu=all` is resolved by the podman process itself
from the CDI spec folders (`cdi_spec_dirs` in containers.conf, default /etc/cdi and
/var/run/cdi). CDI arrived in Podman 4.1; a spec in CDI format 0.7.0 (what toolkit 1.19.1
writes) needs Podman 5.1, older ones fail with `unresolvable CDI devices`. A rootless
container keeps the person's supplementary groups only with `--group-add keep-groups`, which
needs the crun runtime.
"""

from __future__ import annotations

from gpudoctor import TYPE_CHECKING
from gpudoctor.facts.engine_base import (
    binary,
    command_version,
    installed_packages,
    processes_named,
    read_text_quiet,
    upstream_version,
    version_tuple,
)
from gpudoctor.host.base import Host
from gpudoctor.record import field, record

if TYPE_CHECKING:
    from gpudoctor.facts.cdi import CdiSpec
    from gpudoctor.host.base import UserInfo

CMD_VERSION = "podman-version"
DEFAULT_SPEC_DIRS = ("/etc/cdi", "/var/run/cdi")
SYSTEM_CONFS = ("/usr/share/containers/containers.conf", "/etc/containers/containers.conf")
SYSTEM_CONF_DIRS = ("/usr/share/containers/containers.conf.d",
                    "/etc/containers/containers.conf.d")
HOOK_DIRS = ("/usr/share/containers/oci/hooks.d", "/etc/containers/oci/hooks.d")
LEGACY_HOOK = "oci-nvidia-hook.json"
CDI_SINCE = (4, 1, 0)
#: the newest CDI spec format a Podman version reads
CDI_0_7_SINCE = (5, 1, 0)


@record
class PodmanState:
    """Podman: version, rootful or rootless, CDI spec folders, runtime."""

    binary: str | None = None
    package: str | None = None
    version: str | None = None
    version_evidence: str = ""
    #: `podman --version` ran and answered (None: not recorded in a host root)
    answered: bool | None = None
    mode: str = "rootful"  # or rootless: the person runs podman as themselves
    user: str | None = None
    conf_files: list[str] = field(default_factory=list)
    conf_errors: list[str] = field(default_factory=list)
    spec_dirs: list[str] = field(default_factory=lambda: list(DEFAULT_SPEC_DIRS))
    spec_dirs_source: str = "Podman's default"
    runtime: str | None = None
    runtime_source: str = ""
    legacy_hooks: list[str] = field(default_factory=list)
    specs: list[CdiSpec] = field(default_factory=list)
    socket_service: bool = False

    @property
    def installed(self) -> bool:
        return bool(self.binary or self.package)

    @property
    def version_tuple(self) -> tuple[int, int, int] | None:
        return version_tuple(self.version)

    @property
    def cdi_supported(self) -> bool | None:
        v = self.version_tuple
        return None if v is None else v >= CDI_SINCE

    def reads_spec_version(self, spec: CdiSpec) -> bool | None:
        """Whether this Podman parses the spec's CDI format (None: a version is unknown)."""
        v, sv = self.version_tuple, spec.version_tuple
        if v is None or sv is None:
            return None
        return sv < (0, 7, 0) or v >= CDI_0_7_SINCE


def _conf_files(host: Host, user: UserInfo | None, rootless: bool) -> list[str]:
    files = [p for p in SYSTEM_CONFS if host.exists(p)]
    for folder in SYSTEM_CONF_DIRS:
        files += [f"{folder}/{n}" for n in host.listdir(folder) if n.endswith(".conf")]
    if rootless and user is not None and user.home:
        home = f"{user.home}/.config/containers"
        if host.exists(f"{home}/containers.conf"):
            files.append(f"{home}/containers.conf")
        files += [f"{home}/containers.conf.d/{n}"
                  for n in host.listdir(f"{home}/containers.conf.d") if n.endswith(".conf")]
    return files


def inspect_podman(host: Host, user: UserInfo | None) -> PodmanState:
    state = PodmanState()
    state.binary = binary(host, "podman")
    pkg = installed_packages(host, ("podman",)).get("podman")
    if pkg is not None:
        state.package = f"podman {pkg.version}"
    if not state.installed:
        return state
    state.version, state.version_evidence = command_version(
        host, CMD_VERSION, [state.binary or "podman", "--version"])
    state.answered = (state.version is not None if "not recorded" not in
                      state.version_evidence else None)
    if state.version is None and pkg is not None:
        state.version = upstream_version(pkg.version)
        state.version_evidence += f"; package podman {pkg.version}"
    state.mode = "rootless" if user is not None and not user.is_root else "rootful"
    state.user = user.name if user is not None else None
    state.socket_service = bool(processes_named(host, "podman"))
    state.conf_files = _conf_files(host, user, state.mode == "rootless")
    for path in state.conf_files:  # later files override earlier ones, key by key
        text = read_text_quiet(host, path)
        if text is None:
            continue
        from gpudoctor.tomlfile import TomlError, loads  # tomllib: only hosts with the file

        try:
            data = loads(text)
        except TomlError as exc:
            state.conf_errors.append(f"{path}: {exc}")
            continue
        section = data.get("engine")
        engine: dict = section if isinstance(section, dict) else {}
        dirs = engine.get("cdi_spec_dirs")
        if isinstance(dirs, list) and all(isinstance(d, str) for d in dirs):
            state.spec_dirs, state.spec_dirs_source = list(dirs), f"cdi_spec_dirs in {path}"
        runtime = engine.get("runtime")
        if isinstance(runtime, str) and runtime:
            state.runtime, state.runtime_source = runtime, f"runtime in {path}"
    if state.runtime is None:
        for name in ("crun", "runc"):  # Podman's default order: crun first
            if binary(host, name):
                state.runtime, state.runtime_source = name, "the first OCI runtime installed"
                break
    for folder in HOOK_DIRS:
        if host.exists(f"{folder}/{LEGACY_HOOK}"):
            state.legacy_hooks.append(f"{folder}/{LEGACY_HOOK}")
    from gpudoctor.facts.cdi import SPEC_SUFFIXES, read_spec

    for folder in state.spec_dirs:
        for name in host.listdir(folder):
            if name.endswith(SPEC_SUFFIXES):
                state.specs.append(read_spec(host, f"{folder}/{name}"))
    return state
