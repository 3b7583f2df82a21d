"""The person's `docker run` options, parsed into what verify needs and what it drops."""

from __future__ import annotations

import os
import re

from gpudoctor.errors import UserError
from gpudoctor.facts.gpurequest import GpuRequest, parse_gpus
from gpudoctor.record import field, record

#: docker run flags that take no value (docker 20.10 and 28 `docker run --help`).
BOOL_FLAGS = frozenset({
    "--detach", "--disable-content-trust", "--help", "--init", "--interactive",
    "--no-healthcheck", "--oom-kill-disable", "--privileged", "--publish-all", "--quiet",
    "--read-only", "--rm", "--sig-proxy", "--tty", "--use-api-socket",
})
SHORT_BOOL = {"d": "--detach", "i": "--interactive", "t": "--tty", "P": "--publish-all",
              "q": "--quiet"}
SHORT_VALUE = {"a": "--attach", "c": "--cpu-shares", "e": "--env", "h": "--hostname",
               "l": "--label", "m": "--memory", "p": "--publish", "u": "--user", "v": "--volume",
               "w": "--workdir"}
ALIASES = {"--net": "--network", "--devices": "--device"}
#: Options verify sets itself or that make no sense for a probe container; dropped with a note.
DROPPED = frozenset({
    "--detach", "--interactive", "--tty", "--rm", "--name", "--entrypoint", "--restart",
    "--attach", "--sig-proxy", "--help", "--quiet", "--publish", "--publish-all", "--expose",
    "--pull", "--cidfile", "--detach-keys", "--platform",
})
#: Options the generated compose file can carry, and the compose key for each.
COMPOSE_KEYS = {
    "--device": "devices", "--group-add": "group_add", "--gpus": "deploy", "--runtime":
    "runtime", "--user": "user", "--env": "environment", "--env-file": "env_file",
    "--security-opt": "security_opt", "--cap-add": "cap_add", "--cap-drop": "cap_drop",
    "--ipc": "ipc", "--shm-size": "shm_size", "--privileged": "privileged", "--volume": "volumes",
    "--device-cgroup-rule": "device_cgroup_rules", "--label": "labels", "--workdir":
    "working_dir", "--init": "init", "--read-only": "read_only", "--tmpfs": "tmpfs",
    "--network": "network_mode", "--hostname": "hostname",
}
_CDI_NAME = re.compile(r"^[a-z0-9][a-z0-9.-]*\.[a-z]+/[a-zA-Z0-9_.-]+=\S+$")


@record(frozen=True)
class Option:
    """One `docker run` option: canonical long name and value (None for a flag)."""

    name: str
    value: str | None

    def token(self) -> str:
        return self.name if self.value is None else f"{self.name}={self.value}"


@record(frozen=True)
class DeviceArg:
    """A `--device HOST[:CONTAINER[:PERMS]]` path, or a CDI name (vendor.com/class=name)."""

    raw: str
    host: str
    container: str
    perms: str = "rwm"
    cdi: bool = False


@record
class RunArgs:
    """The options to test, as verify will pass them, and what they ask for."""

    source: list[str]
    options: list[Option] = field(default_factory=list)
    dropped: list[str] = field(default_factory=list)
    devices: list[DeviceArg] = field(default_factory=list)
    group_add: list[str] = field(default_factory=list)
    gpus: GpuRequest | None = None
    runtime: str | None = None
    user: str | None = None
    env: dict[str, str] = field(default_factory=dict)
    network: bool = False
    privileged: bool = False

    @property
    def tokens(self) -> list[str]:
        return [o.token() for o in self.options]

    @property
    def cdi_devices(self) -> list[str]:
        return [d.raw for d in self.devices if d.cdi]

    @property
    def numeric_groups(self) -> list[int]:
        return [int(g) for g in self.group_add if g.isdigit()]


def parse_device(value: str) -> DeviceArg:
    if _CDI_NAME.match(value):
        return DeviceArg(raw=value, host=value, container="", cdi=True)
    parts = value.split(":")
    if len(parts) > 3 or not parts[0]:
        raise UserError(f"--device {value}: expected HOST[:CONTAINER[:PERMISSIONS]] (a "
                        "/dev/dri/by-path name has colons: pass the resolved /dev/dri/renderD* "
                        "node)")
    host = parts[0]
    container = parts[1] if len(parts) > 1 and parts[1] else host
    perms = parts[2] if len(parts) > 2 else "rwm"
    if len(parts) == 2 and re.fullmatch(r"[rwm]{1,3}", parts[1]):
        container, perms = host, parts[1]
    if not container.startswith("/") or not re.fullmatch(r"[rwm]{1,3}", perms):
        raise UserError(f"--device {value}: expected HOST[:CONTAINER[:PERMISSIONS]] with an "
                        "absolute container path and permissions from rwm (a /dev/dri/by-path "
                        "name has colons: pass the resolved /dev/dri/renderD* node)")
    return DeviceArg(raw=value, host=host, container=container, perms=perms)


def parse_run_args(argv: list[str]) -> RunArgs:
    """Read docker run options; anything that is not an option is a clear error (exit 2)."""
    parsed = RunArgs(source=list(argv))
    options: list[Option] = []
    i = 0
    while i < len(argv):
        token = argv[i]
        i += 1
        if token == "--":
            raise UserError("a second `--` in the arguments: give docker run options only once")
        if token.startswith("--"):
            name, eq, value = token.partition("=")
            name = ALIASES.get(name, name)
            if len(name) < 3:
                raise UserError(f"`{token}` is not a docker run option")
            if name in BOOL_FLAGS:
                # `--rm`, `--rm=true` and `--privileged=false` are all valid docker syntax.
                options.append(Option(name, None if value in ("", "true") else value))
                continue
            if not eq:
                if i >= len(argv):
                    raise UserError(f"{name} needs a value")
                value = argv[i]
                i += 1
            options.append(Option(name, value))
            continue
        if token.startswith("-") and len(token) > 1:
            j = 1
            while j < len(token):
                char = token[j]
                if char in SHORT_BOOL:
                    options.append(Option(SHORT_BOOL[char], None))
                    j += 1
                    continue
                if char in SHORT_VALUE:
                    rest = token[j + 1:].removeprefix("=")
                    if not rest:
                        if i >= len(argv):
                            raise UserError(f"-{char} needs a value")
                        rest = argv[i]
                        i += 1
                    options.append(Option(SHORT_VALUE[char], rest))
                    break
                raise UserError(f"`{token}`: -{char} is not a docker run option")
            continue
        raise UserError(
            f"`{token}` is not a docker run option: after `--` give only options; choose the "
            "image with --image")
    for option in options:
        _apply_option(parsed, option)
    return parsed


def _apply_option(parsed: RunArgs, option: Option) -> None:
    name, value = option.name, option.value
    if name in DROPPED:
        parsed.dropped.append(option.token())
        return
    parsed.options.append(option)
    if value is None:
        if name == "--privileged":
            parsed.privileged = True
        return
    if name == "--device":
        parsed.devices.append(parse_device(value))
    elif name == "--group-add":
        parsed.group_add.append(value)
    elif name == "--gpus":
        parsed.gpus = parse_gpus(value)
    elif name == "--runtime":
        parsed.runtime = value
    elif name == "--user":
        parsed.user = value
    elif name == "--env":
        key, eq, val = value.partition("=")
        parsed.env[key] = val if eq else os.environ.get(key, "")
    elif name == "--network":
        parsed.network = True
    elif name == "--privileged" and value != "false":
        parsed.privileged = True
