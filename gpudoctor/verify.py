"""The proof: start a short-lived container with the GPU arguments and look from inside it.

A doctor's green checks are a prediction; a container that opens its GPU devices is the proof.
This engine serves `gpudoctor verify` and the opt-in check `docker.smoke`:

1. the arguments: the report's `docker_run_args`, or the person's own `docker run` options;
2. an image: the one asked for, else a small one already present (never pulled unasked);
3. the container: `docker create` + `docker start` (or a generated compose file with
   `docker compose up -d`), on the daemon facts.docker found, through the person's docker CLI
   so that the daemon's errors are exactly the ones the person would see;
4. a POSIX sh probe run twice with `docker exec`: as root and as a non-root user that holds
   only the added groups, because root opens any device node and hides a missing group;
5. the container is always removed, on Ctrl-C and SIGTERM too;
6. any failure is mapped to its cause and the check or fix that addresses it (ERROR_RULES).

Everything that is run goes through `docker` (and compose) commands with timeouts, run by
gpudoctor.host.changes; the host itself is only read through facts.host.
"""

from __future__ import annotations

import atexit
import contextlib
import csv
import os
import re
import secrets
import signal
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from string import Template
from typing import TYPE_CHECKING, Any

from gpudoctor import __version__
from gpudoctor.errors import DockerUnavailable, HostError, UserError
from gpudoctor.facts.runargs import yaml_lines
from gpudoctor.host import changes
from gpudoctor.host.base import CommandResult, FileStat

if TYPE_CHECKING:
    from gpudoctor.facts import Facts
    from gpudoctor.plugin import Result

SCHEMA_ID = "gpudoctor.verify/1"
#: Every verify container carries this label (value: the run's id), so that it can always be
#: found and removed, even when the CLI call that created it was cut short.
LABEL = "io.gpudoctor.verify"
NAME_PREFIX = "gpudoctor-verify-"
#: The non-root user of the second probe pass when the arguments give none: nobody:nogroup.
#: A numeric uid:gid needs no /etc/passwd entry in the image.
NONROOT_USER = "65534:65534"
#: How long the container's own process lives: the upper bound of one verification, and the
#: container's end even if gpudoctor is killed with SIGKILL (it is created with --rm).
CONTAINER_LIFETIME_S = 300
#: nvidia-smi inside the container; a hung GPU makes it hang, which is itself a finding.
SMI_TIMEOUT_S = 20

# Step timeouts (seconds). Each is also capped by the verification's overall deadline.
T_QUICK = 20.0
T_CREATE = 60.0
T_START = 90.0
T_EXEC = SMI_TIMEOUT_S + 25.0
T_COMPOSE_UP = 150.0
T_REMOVE = 30.0
T_PULL = 600.0

#: Images looked for locally, smallest family first. NVIDIA's injected nvidia-smi is linked
#: against glibc, so for NVIDIA the glibc families come first (busybox/alpine cannot run it).
SMALL_FAMILIES = ("busybox", "alpine", "debian", "ubuntu", "fedora", "rockylinux", "almalinux",
                  "centos", "amazonlinux")
GLIBC_FAMILIES = ("ubuntu", "debian", "fedora", "rockylinux", "almalinux", "centos",
                  "amazonlinux")
DEFAULT_PULL = "busybox:latest"
DEFAULT_PULL_NVIDIA = "ubuntu:24.04"


# =================================================================================================
# Causes: the daemon's and the container's error texts, mapped to what to do
# =================================================================================================
@dataclass(frozen=True)
class Cause:
    """Why something failed, and the check or fix that addresses it."""

    id: str
    summary: str
    details: str = ""
    remedy: str = ""
    checks: tuple[str, ...] = ()
    fixes: tuple[str, ...] = ()
    #: The exact text this cause was recognised in (empty when it came from the probe).
    matched: str = ""

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "summary": self.summary, "details": self.details,
                "remedy": self.remedy, "checks": list(self.checks), "fixes": list(self.fixes),
                "matched": self.matched}


@dataclass(frozen=True)
class ErrorRule:
    """One row of the error table: patterns (regexes) and the cause they mean.

    summary/details/remedy are string.Template texts; `$name` is filled from the named groups
    of the pattern that matched (anything else with a `$`, like `$USER`, is left as written).
    """

    id: str
    patterns: tuple[str, ...]
    summary: str
    details: str
    remedy: str
    checks: tuple[str, ...] = ()
    fixes: tuple[str, ...] = ()

    def match(self, text: str) -> Cause | None:
        for pattern in self.patterns:
            found = re.search(pattern, text)
            if found:
                values = {k: v for k, v in found.groupdict().items() if v is not None}
                line = _line_around(text, found.start(), found.end())
                return Cause(
                    id=self.id, summary=Template(self.summary).safe_substitute(values),
                    details=Template(self.details).safe_substitute(values),
                    remedy=Template(self.remedy).safe_substitute(values), checks=self.checks,
                    fixes=self.fixes, matched=line)
        return None


def _line_around(text: str, start: int, end: int) -> str:
    """The whole line(s) holding a match: the exact text a person would search for."""
    head = text.rfind("\n", 0, start) + 1
    tail = text.find("\n", end)
    return text[head:tail if tail >= 0 else len(text)].strip()


_HOOK_DETAILS = (
    "dockerd registers the device driver behind `--gpus` (and compose's `driver: nvidia`) "
    "once, when it starts, and only if nvidia-container-runtime-hook from "
    "nvidia-container-toolkit is on dockerd's own PATH at that moment. So either the toolkit "
    "is not installed, or it was installed after dockerd started: a reload (SIGHUP) does not "
    "register the driver, only a restart does. Docker Desktop's engine runs in a VM and never "
    "has it.")
_HOOK_REMEDY = (
    "Install nvidia-container-toolkit (`sudo gpudoctor fix nvidia.install_toolkit`), then "
    "restart Docker: `sudo systemctl restart docker` (a reload is not enough).")

#: The error table, most specific rows first; `map_error` returns the first row that matches.
#: Sources: shared/reference/nvidia-container-stack.md §2.3 and §4, amd-container-stack.md §3.1,
#: §5 and §7 (each text below is quoted from there or from a real daemon of the test suite).
ERROR_RULES: tuple[ErrorRule, ...] = (
    ErrorRule(
        "gpus-driver-not-registered",
        (r'could not select device driver "" with capabilities: \[\[gpu\]\]',),
        "Docker has no NVIDIA device driver for --gpus: nvidia-container-runtime-hook was not "
        "on dockerd's PATH when dockerd started",
        _HOOK_DETAILS, _HOOK_REMEDY,
        ("nvidia.toolkit", "docker.nvidia_runtime"), ("nvidia.install_toolkit", "docker.reload")),
    ErrorRule(
        "nvidia-driver-not-registered",
        (r'could not select device driver "(?P<driver>nvidia(?:\.[a-z-]+)?)" with '
         r'capabilities: \[\[[^\]]*\]\]',),
        "Docker has no `$driver` device driver (compose's `driver: nvidia`): "
        "nvidia-container-runtime-hook was not on dockerd's PATH when dockerd started",
        _HOOK_DETAILS + " This is the error of the NVIDIA field guide's `docker compose up`.",
        _HOOK_REMEDY,
        ("nvidia.toolkit", "docker.nvidia_runtime"), ("nvidia.install_toolkit", "docker.reload")),
    ErrorRule(
        "cdi-disabled",
        (r'could not select device driver "cdi"', r"no CDI device driver registered"),
        "CDI is not enabled in this Docker daemon, so a `--device vendor.com/class=name` "
        "name cannot be resolved",
        "A CDI device name needs dockerd's CDI driver. Docker 25 to 28.1 registers it only with "
        '`"features": {"cdi": true}` in the daemon.json it reads, and only when it starts; '
        "Docker 28.2 and later enable CDI by default.",
        'Add `"features": {"cdi": true}` to the daemon.json the daemon reads and restart Docker '
        "(`sudo systemctl restart docker`), or pass the GPUs with `--gpus=all` instead.",
        ("docker.cdi",), ("docker.reload",)),
    ErrorRule(
        "cdi-spec-stale",
        (r'(?i)CDI[^\n]*?(?P<path>/[^\s:"]+\.so[.\d]*)"?: no such file or directory',
         r"(?i)(?P<path>\S*lib\w*nvidia[\w-]*\.so\.\d+\.\d+[.\d]*)\"?: no such file or directory"),
        "the CDI spec refers to $path, which no longer exists (a stale spec after a driver "
        "upgrade)",
        "CDI specs list the driver's files by their versioned names. After a driver upgrade an "
        "old spec still names the old files until it is generated again.",
        "Regenerate it: `sudo systemctl restart nvidia-cdi-refresh.service` or "
        "`sudo nvidia-ctk cdi generate --output=/var/run/cdi/nvidia.yaml`; find other stale "
        "specs with `grep -R <old driver version> /etc/cdi /var/run/cdi`.",
        ("docker.cdi",), ()),
    ErrorRule(
        "cdi-unresolvable",
        (r'unresolvable CDI devices? (?P<device>[^\s",]+)',),
        "no CDI spec offers $device",
        "dockerd looked for $device in its CDI spec folders (/etc/cdi and /var/run/cdi unless "
        "`cdi-spec-dirs` says otherwise) and no spec defines it: it was never generated, "
        "nvidia-cdi-refresh is disabled, a rootless daemon cannot read the folders, or the spec "
        "is version 0.7.0 (toolkit 1.19.1 and later) and this Docker is older than 26.1.",
        "Generate it: `sudo nvidia-ctk cdi generate --output=/var/run/cdi/nvidia.yaml` (or "
        "`sudo systemctl restart nvidia-cdi-refresh.service`), then check `nvidia-ctk cdi list`.",
        ("docker.cdi", "nvidia.toolkit"), ()),
    ErrorRule(
        "runtime-unknown",
        (r"unknown or invalid runtime name: (?P<runtime>[\w.-]*\w)",
         r"Unknown runtime specified (?P<runtime>[\w.-]*\w)"),
        "the running Docker daemon has no runtime named `$runtime`",
        "`--runtime=$runtime` (or compose's `runtime:`) names an OCI runtime the daemon must "
        "have loaded from the `runtimes` key of the daemon.json it reads. Either that file does "
        "not declare it (nvidia-ctk wrote another file: rootless, snap and `--config-file` "
        "daemons read their own), or it was declared after dockerd started and the daemon was "
        "not reloaded.",
        "Declare it in the file the daemon reads (`sudo gpudoctor fix "
        "docker.configure_nvidia_runtime`) and reload Docker (`sudo systemctl reload docker`); "
        "`docker info --format '{{json .Runtimes}}'` must then list it.",
        ("docker.nvidia_runtime", "docker.daemon"),
        ("docker.configure_nvidia_runtime", "docker.reload")),
    ErrorRule(
        "runtime-binary-missing",
        (r'exec: "(?P<binary>[^"]*nvidia-container-runtime[^"]*)": executable file not found '
         r"in \$PATH",),
        "the nvidia runtime is declared, but `$binary` is not on the PATH of dockerd and its "
        "shim",
        "daemon.json declares the runtime by a bare name (nvidia-ctk writes `\"path\": "
        "\"nvidia-container-runtime\"`), so containerd's shim looks it up on dockerd's PATH when "
        "a container starts. The package that provides it (nvidia-container-toolkit-base) is "
        "missing or was removed, or it lives in a folder that PATH lacks. dockerd does not "
        "notice this at reload, only when a container starts.",
        "Install the toolkit (`sudo gpudoctor fix nvidia.install_toolkit`), or give the "
        'absolute path in daemon.json (`"path": "/usr/bin/nvidia-container-runtime"`) and '
        "reload Docker.",
        ("nvidia.toolkit", "docker.nvidia_runtime"), ("nvidia.install_toolkit", "docker.reload")),
    ErrorRule(
        "device-missing-on-host",
        (r'error gathering device information while adding custom device "(?P<device>[^"]+)": '
         r"no such file or directory",),
        "the daemon's host has no $device, which `--device` asks Docker to pass",
        "Docker copies each `--device` node from the host when the container starts. $device "
        "does not exist there: its kernel driver is not loaded (amdgpu creates /dev/kfd and "
        "/dev/dri/renderD*), the node has another number on this host, or the engine runs in a "
        "VM (Docker Desktop), which has no GPU at all.",
        "Look at `ls -l $device` and `lsmod | grep -E 'amdgpu|nvidia'` on the host; "
        "`gpudoctor devices` prints the nodes this host really has. Docker Desktop cannot pass "
        "GPUs on Linux: use Docker Engine.",
        ("devices.nodes", "kernel.driver"), ()),
    ErrorRule(
        "device-not-a-node",
        (r'error gathering device information while adding custom device "(?P<device>[^"]+)": '
         r"not a device node",),
        "$device is not a device node",
        "`--device` takes device files (character or block nodes) or a folder of them; "
        "$device is neither.",
        "Pass the device file itself, for example `--device=/dev/dri/renderD128`; "
        "`gpudoctor devices` prints the right ones.",
        ("devices.nodes",), ()),
    ErrorRule(
        "device-path-with-colon",
        (r"bad mode specified: (?P<rest>\S+)",),
        "docker rejected a --device path that contains a colon",
        "`docker run --device` splits its value at ':' into host path, container path and "
        "permissions, so a /dev/dri/by-path/pci-0000:07:00.0-render name cannot be passed as "
        "it is (docker read `$rest` as the permissions).",
        "Pass the resolved node, e.g. `--device=$(readlink -f "
        "/dev/dri/by-path/pci-0000:07:00.0-render)`, as `gpudoctor devices` prints it.",
        ("devices.nodes",), ()),
    ErrorRule(
        "group-unknown-in-image",
        (r"[Uu]nable to find group (?P<group>[^\s:]+)",),
        "the image has no group named `$group`",
        "A group given by name (`--group-add`, compose's `group_add`, or `user: name:group`) is "
        "looked up in the image's /etc/group, not the host's, and images define their own "
        "groups (AMD's ROCm images make `render` GID 109, rarely the host's render GID).",
        "Give the numeric GID that owns the device on the host, e.g. "
        "`--group-add=$(stat -c %g /dev/kfd)`; in compose, quoted: `group_add: ['993']`.",
        ("groups.render",), ()),
    ErrorRule(
        "compose-group-add-int",
        (r"'group_add\[\d+\]' expected type 'string', got unconvertible type 'int'",),
        "Compose v2 needs the GIDs in group_add quoted",
        "Compose v2 reads group_add entries as strings and rejects a YAML number such as 993.",
        "Quote each GID: `group_add: ['993']`.",
        ("groups.render",), ()),
    ErrorRule(
        "nvml-library-missing",
        (r"load library failed: libnvidia-ml\.so\.1",),
        "the toolkit cannot load the NVIDIA driver's libnvidia-ml.so.1 on the host",
        "nvidia-container-cli asks NVML, from the host's driver, which GPUs exist. The driver's "
        "user-space libraries are not installed, not in the ld.so cache, or (WSL) the Windows "
        "driver is missing.",
        "Install the NVIDIA driver (your distribution's nvidia-driver package, or "
        "`sudo ubuntu-drivers install`), then check `ldconfig -p | grep libnvidia-ml`.",
        ("kernel.driver", "nvidia.toolkit"), ()),
    ErrorRule(
        "nvml-version-mismatch",
        (r"[Dd]river/library version mismatch",),
        "the loaded nvidia kernel module and the driver's libraries are different versions",
        "Usually the driver was upgraded while the old module stays loaded; NVML refuses to "
        "work until they match (dmesg: `NVRM: API mismatch`).",
        "Reboot (or unload and reload the nvidia modules); compare "
        "`cat /sys/module/nvidia/version` with the version in libnvidia-ml.so's name.",
        ("kernel.driver",), ()),
    ErrorRule(
        "nvml-driver-not-loaded",
        (r"nvml error: driver not loaded",),
        "the nvidia kernel module is not loaded on the host",
        "Secure Boot rejected the unsigned module (`Key was rejected by service`), nouveau or "
        "nova_core holds the GPU, or the DKMS build failed for the running kernel.",
        "Look at `mokutil --sb-state`, `lsmod | grep -E 'nvidia|nouveau'` and `lspci -k`; "
        "blacklist nouveau or enroll the module's key, then `sudo modprobe nvidia`.",
        ("kernel.driver",), ()),
    ErrorRule(
        "nvml-insufficient-permissions",
        (r"nvml error: insufficient permissions", r"Failed to initialize NVML: Insufficient "
                                                  r"Permissions"),
        "NVML may not open the /dev/nvidia* devices",
        "Their modes or group were changed (VirtualGL setups do this), or SELinux labels deny "
        "containers the devices.",
        "Compare `ls -l /dev/nvidia*` (normally crw-rw-rw-); on SELinux hosts run with "
        "`--security-opt=label=disable` or `sudo setsebool -P container_use_devices=1`.",
        ("devices.nodes",), ()),
    ErrorRule(
        "nvml-unknown-error",
        (r"Failed to initialize NVML: Unknown Error",),
        "the container lost its access to the GPU device files",
        "With hook-based injection and the systemd cgroup driver, `systemctl daemon-reload` or "
        "a container update rewrites the device cgroup and drops the GPUs from running "
        "containers.",
        "Recreate the container. To prevent it: `\"exec-opts\": "
        "[\"native.cgroupdriver=cgroupfs\"]` in daemon.json (then restart Docker), CDI "
        "(`--device nvidia.com/gpu=all`), or `sudo nvidia-ctk system create-dev-char-symlinks "
        "--create-all`.",
        ("docker.daemon",), ()),
    ErrorRule(
        "rootless-device-cgroup",
        (r"bpf_prog_query\(BPF_CGROUP_DEVICE\) failed: operation not permitted",
         r"devices\.allow: permission denied"),
        "nvidia-container-cli may not edit the device cgroup (rootless Docker)",
        "A rootless daemon has no right to change device cgroups, and libnvidia-container tries "
        "to unless its config.toml says `no-cgroups = true`.",
        "Set `no-cgroups = true` in /etc/nvidia-container-runtime/config.toml "
        "(`sudo gpudoctor fix nvidia.rootless_no_cgroups`; it breaks rootful Docker on the same "
        "host), or use CDI.",
        ("docker.daemon", "nvidia.toolkit"), ("nvidia.rootless_no_cgroups",)),
    ErrorRule(
        "cuda-requirement",
        (r"requirement error: unsatisfied condition: (?P<condition>[^,\s]+)",),
        "the image needs $condition, newer than the host's NVIDIA driver supports",
        "CUDA images declare the CUDA version they need (NVIDIA_REQUIRE_CUDA) and the toolkit "
        "refuses to start them on an older driver.",
        "Upgrade the NVIDIA driver, use an image built for an older CUDA, or run with "
        "`-e NVIDIA_DISABLE_REQUIRE=true` if you know the image works.",
        ("kernel.driver",), ()),
    ErrorRule(
        "wsl-no-adapters",
        (r"WSL environment detected but no adapters were found",),
        "WSL has no GPU adapter",
        "WSL 1, no NVIDIA GPU, or a missing or old Windows driver (no /dev/dxg).",
        "Use WSL 2 with a current Windows NVIDIA driver (`wsl --update`).",
        ("gpu.present",), ()),
    ErrorRule(
        "ldconfig-path",
        (r"ldcache error: open failed: (?P<path>\S+)", r"ldconfig\.real[^\n]*failed"),
        "the toolkit's ldconfig path does not exist on this distribution",
        "config.toml's `ldconfig` names a program this distribution does not have "
        "(`@/sbin/ldconfig.real` exists only on Debian and Ubuntu).",
        'Set `ldconfig = "@/sbin/ldconfig"` in /etc/nvidia-container-runtime/config.toml '
        "(toolkit 1.15 and later set it right themselves).",
        ("nvidia.toolkit",), ()),
    ErrorRule(
        "hook-mode-not-legacy",
        (r"invoking the NVIDIA Container Runtime Hook directly",),
        "the toolkit runs in CDI/CSV mode, where `--gpus` (the hook) is refused",
        "config.toml sets `mode = \"cdi\"` or `\"csv\"` (Tegra auto-detects csv), and in that "
        "mode only the nvidia runtime may inject GPUs.",
        "Add `--runtime=nvidia`, or set `mode = \"auto\"` under [nvidia-container-runtime] in "
        "/etc/nvidia-container-runtime/config.toml.",
        ("nvidia.toolkit", "docker.nvidia_runtime"), ()),
    ErrorRule(
        "driver-libs-in-image",
        (r"file creation failed: \S*libnvidia-ml\.so\.1: file exists",),
        "the image ships NVIDIA driver libraries that collide with the injected ones",
        "The toolkit mounts the host driver's libraries into the container; an image that "
        "already has them makes the mount fail.",
        "Use an image without driver libraries (CUDA base images have none).",
        (), ()),
    ErrorRule(
        "imex-channel",
        (r"unsupported IMEX channel value",),
        "nvidia-container-toolkit 1.17.0 rejects NVIDIA_IMEX_CHANNELS=all",
        "A regression of toolkit 1.17.0.",
        "Upgrade the toolkit (`sudo gpudoctor fix nvidia.install_toolkit`).",
        ("nvidia.toolkit",), ("nvidia.install_toolkit",)),
    ErrorRule(
        "kfd-permission-denied",
        (r"/dev/kfd[^\n]*Permission denied",),
        "the container's user may not open /dev/kfd",
        "ROCm opens /dev/kfd read-write. A non-root user in the container needs the numeric GID "
        "that owns /dev/kfd on the host (Docker copies the host's owner); a group name resolves "
        "in the image instead (ROCm images make `render` GID 109).",
        "Add `--group-add=$(stat -c %g /dev/kfd)` and the GID of each render node "
        "(`gpudoctor devices` prints them), or run the container as root.",
        ("groups.render",), ()),
    ErrorRule(
        "kfd-not-permitted",
        (r"/dev/kfd[^\n]*Operation not permitted",),
        "the container's device cgroup does not allow /dev/kfd",
        "EPERM on open means the device cgroup does not list the device: it was not passed "
        "with `--device` (a bind mount of /dev is not enough), or an outer container (LXC, "
        "Proxmox) denies it.",
        "Pass it with `--device=/dev/kfd`; in LXC allow it in the container's config "
        "(`lxc.cgroup2.devices.allow`).",
        ("devices.nodes",), ()),
    ErrorRule(
        "no-gpu-visible",
        (r"No devices were found",),
        "nvidia-smi ran but sees no GPU",
        "NVIDIA_VISIBLE_DEVICES is void or none, or names no GPU, or the driver sees none (a GPU "
        "that fell off the bus: the host's `nvidia-smi` says the same).",
        "Request the GPUs (`--gpus=all`), and look at `nvidia-smi -L` and "
        "`dmesg | grep -i xid` on the host.",
        ("gpu.present", "kernel.driver"), ()),
    ErrorRule(
        "nvidia-container-cli",
        (r"nvidia-container-cli: (?P<message>[^\n]+)",),
        "the toolkit's nvidia-container-cli failed: $message",
        "nvidia-container-cli prepares the container's GPUs (devices, driver files, cgroups) "
        "before it starts; this step failed.",
        "Run `sudo nvidia-container-cli -k -d /dev/tty info` on the host to see the failing "
        "step.",
        ("nvidia.toolkit", "kernel.driver"), ()),
    ErrorRule(
        "image-no-shell",
        (r'"/bin/sh": stat /bin/sh: no such file or directory',
         r'exec: "/bin/sh": no such file or directory'),
        "the image has no /bin/sh, which the verify probe needs",
        "gpudoctor looks inside the container with a small POSIX shell script.",
        "Choose an image with a shell: `--image busybox` (or `--image ubuntu` for NVIDIA).",
        (), ()),
    ErrorRule(
        "image-missing",
        (r"No such image: (?P<image>\S+)", r"Unable to find image '(?P<image>[^']+)'",
         r"pull access denied for (?P<image>[^,\s]+)"),
        "the image $image is not available",
        "verify never pulls unless asked.",
        "Pull it (`docker pull $image`) or run `gpudoctor verify --pull`.",
        (), ()),
    ErrorRule(
        "daemon-permission",
        (r"permission denied while trying to connect to the Docker daemon socket",
         r"permission denied while connecting to"),
        "this user may not use the Docker socket",
        "The socket belongs to root and the `docker` group.",
        "`sudo usermod -aG docker $USER` and log in again, or run gpudoctor with sudo.",
        ("docker.daemon",), ()),
    ErrorRule(
        "daemon-unreachable",
        (r"Cannot connect to the Docker daemon", r"no Docker socket at",
         r"connection refused on", r"[Ii]s the docker daemon running"),
        "no Docker daemon answers",
        "The docker CLI and gpudoctor talk to the daemon DOCKER_HOST, the current docker context "
        "or /var/run/docker.sock names, and nothing answers there.",
        "Start it (`sudo systemctl start docker`), and check `echo $DOCKER_HOST` and "
        "`docker context ls`.",
        ("docker.daemon",), ()),
    ErrorRule(
        "gpus-flag-unknown",
        (r"unknown flag: --gpus",),
        "this docker client is older than 19.03 and has no --gpus",
        "`--gpus` arrived in Docker 19.03.",
        "Upgrade Docker, or use `--runtime=nvidia -e NVIDIA_VISIBLE_DEVICES=all`.",
        ("docker.daemon",), ()),
)


def map_error(text: str) -> Cause | None:
    """The cause of a daemon's or container's error text, from the table; None if unknown."""
    if not text:
        return None
    for rule in ERROR_RULES:
        cause = rule.match(text)
        if cause is not None:
            return cause
    return None


def explain_error(text: str, facts: Facts | None = None) -> Cause | None:
    """map_error, sharpened with what facts say about this host (which fix applies)."""
    cause = map_error(text)
    if cause is None or facts is None:
        return cause
    try:
        if cause.id in ("gpus-driver-not-registered", "nvidia-driver-not-registered"):
            return _refine_hook(cause, facts)
        if cause.id == "runtime-unknown":
            return _refine_runtime(cause, facts)
        if cause.id == "device-missing-on-host" and facts.docker.mode == "desktop":
            return _replace(cause, summary=cause.summary + " (Docker Desktop: its engine runs "
                            "in a VM without the host's GPUs)", fixes=())
    except (HostError, DockerUnavailable):
        return cause
    return cause


def _replace(cause: Cause, **changes: Any) -> Cause:
    from dataclasses import replace

    return replace(cause, **changes)


def _refine_hook(cause: Cause, facts: Facts) -> Cause:
    """Installed-but-not-restarted and not-installed need different fixes: look for the hook."""
    daemon = facts.docker
    if daemon.mode == "desktop":
        return _replace(cause, remedy="Docker Desktop's engine runs in a VM that cannot get the "
                        "host's NVIDIA GPUs; install Docker Engine and nvidia-container-toolkit.",
                        fixes=())
    path_env = daemon.path_env
    on_daemon_path = facts.host.which("nvidia-container-runtime-hook", path_env) if path_env \
        else None
    on_host_path = facts.host.which("nvidia-container-runtime-hook")
    head = cause.summary.partition(": nvidia-container-runtime-hook")[0]
    if on_daemon_path:
        return _replace(
            cause, summary=f"{head}: {on_daemon_path} is on dockerd's PATH now, but dockerd "
            "started before it was there",
            remedy="Restart Docker so that it registers the driver: `sudo systemctl restart "
                   "docker` (`sudo gpudoctor fix docker.reload` decides between reload and "
                   "restart; a reload is not enough here).",
            fixes=("docker.reload",))
    if on_host_path and path_env:
        return _replace(
            cause, summary=f"{head}: {on_host_path} is installed, but not in a folder on "
            "dockerd's PATH",
            remedy=f"dockerd's PATH is `{path_env}`. Install the toolkit into a folder on it (or "
                   "add that folder to dockerd's environment), then restart Docker.",
            fixes=("docker.reload",))
    return cause


def _refine_runtime(cause: Cause, facts: Facts) -> Cause:
    """Declared-but-not-loaded needs a reload only; not declared needs the configure fix."""
    config = facts.docker.config
    declared = isinstance(config.data, dict) and isinstance(config.data.get("runtimes"), dict) \
        and "nvidia" in config.data["runtimes"]
    if declared:
        return _replace(
            cause, summary=cause.summary + f": {config.path} declares it, but the daemon has "
            "not loaded that file since",
            remedy="Reload Docker: `sudo systemctl reload docker` (or `sudo gpudoctor fix "
                   "docker.reload`), then check `docker info --format '{{json .Runtimes}}'`.",
            fixes=("docker.reload",))
    return _replace(cause, summary=cause.summary + f" ({config.path} does not declare it)")


# =================================================================================================
# The person's `docker run` options
# =================================================================================================
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


@dataclass(frozen=True)
class Option:
    """One `docker run` option: canonical long name and value (None for a flag)."""

    name: str
    value: str | None

    def token(self) -> str:
        return self.name if self.value is None else f"{self.name}={self.value}"


@dataclass(frozen=True)
class DeviceArg:
    """A `--device HOST[:CONTAINER[:PERMS]]` path, or a CDI name (vendor.com/class=name)."""

    raw: str
    host: str
    container: str
    perms: str = "rwm"
    cdi: bool = False


@dataclass
class GpuRequest:
    """`--gpus` parsed like docker/cli opts/gpus.go: count (-1 all), ids, driver, caps."""

    raw: str
    count: int | None = None
    device_ids: list[str] = field(default_factory=list)
    driver: str = ""
    capabilities: list[str] = field(default_factory=list)

    @property
    def wanted(self) -> int | None:
        """How many GPUs the request names (None: all)."""
        if self.device_ids:
            return len(self.device_ids)
        if self.count is None or self.count < 0:
            return None
        return self.count


@dataclass
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


def parse_gpus(value: str) -> GpuRequest:
    """`all`, `2`, `device=0,1` (quoted in the CSV), `count=2,capabilities=utility`..."""
    request = GpuRequest(raw=value)
    try:
        fields = next(csv.reader([value]))
    except (csv.Error, StopIteration) as exc:
        raise UserError(f"--gpus {value}: not a valid value ({exc})") from exc
    for item in fields:
        item = item.strip()
        key, eq, val = item.partition("=")
        if not eq:
            if item == "all":
                request.count = -1
            elif item.isdigit():
                request.count = int(item)
            else:
                raise UserError(f"--gpus {value}: `{item}` is neither `all`, a number nor "
                                "key=value")
        elif key == "count":
            request.count = -1 if val == "all" else _int_or_error(val, value)
        elif key in ("device", "devices"):
            request.device_ids = [v for v in val.split(",") if v]
        elif key == "driver":
            request.driver = val
        elif key in ("capabilities", "capability"):
            request.capabilities = [v for v in val.split(",") if v]
        elif key == "options":
            continue
        else:
            raise UserError(f"--gpus {value}: unknown key `{key}`")
    return request


def _int_or_error(text: str, whole: str) -> int:
    if not text.isdigit():
        raise UserError(f"--gpus {whole}: count `{text}` is not a number or `all`")
    return int(text)


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


# =================================================================================================
# What the container must show
# =================================================================================================
@dataclass
class ExpectedDevice:
    """A device file the container must have, and what it is on the host."""

    path: str
    host_path: str
    source: str
    host: FileStat | None = None

    def describe_host(self) -> str:
        st = self.host
        if st is None:
            return f"{self.host_path}: not found on the host"
        if st.kind != "char":
            return f"{self.host_path}: a {st.kind} on the host, not a character device"
        return (f"{self.host_path} on the host: character device {st.major}:{st.minor}, mode "
                f"{st.mode_octal}, owner {st.uid}:{st.gid}")


@dataclass
class ForbiddenNode:
    """A render node of an integrated GPU the selection left out: it must not be visible."""

    pci: str
    label: str
    path: str
    major: int
    minor: int


@dataclass
class Expectations:
    devices: list[ExpectedDevice] = field(default_factory=list)
    #: NVIDIA GPUs were asked for (--gpus, a nvidia.com CDI device, or the nvidia runtime).
    nvidia_requested: bool = False
    #: How many GPUs nvidia-smi should list; None when unknown (at least one).
    nvidia_count: int | None = None
    forbidden: list[ForbiddenNode] = field(default_factory=list)
    group_ids: list[int] = field(default_factory=list)
    users: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {"devices": [d.path for d in self.devices], "nvidia": self.nvidia_requested,
                "nvidia_gpus": self.nvidia_count, "group_add": list(self.group_ids),
                "users": list(self.users),
                "forbidden": [{"pci": f.pci, "node": f.path, "major": f.major, "minor": f.minor}
                              for f in self.forbidden]}


def _node(facts: Facts, path: str) -> FileStat | None:
    try:
        return facts.host.device_node(path)
    except HostError:
        return None


def build_expectations(facts: Facts, run_args: RunArgs) -> Expectations:
    expect = Expectations(group_ids=run_args.numeric_groups)
    seen: set[str] = set()

    def add(path: str, host_path: str, source: str, st: FileStat | None) -> None:
        if path not in seen:
            seen.add(path)
            expect.devices.append(ExpectedDevice(path, host_path, source, st))

    for dev in run_args.devices:
        if dev.cdi:
            if dev.raw.startswith("amd.com/"):
                add("/dev/kfd", "/dev/kfd", dev.raw, _node(facts, "/dev/kfd"))
            continue
        st = _node(facts, dev.host)
        if st is not None and st.kind == "dir":
            for child_host, child_container, child in _devices_under(facts, dev.host,
                                                                     dev.container):
                add(child_container, child_host, dev.raw, child)
            continue
        add(dev.container, dev.host, dev.raw, st)
    daemon_default = str(facts.docker.info.get("DefaultRuntime") or "") if \
        facts.docker.reachable else ""
    nvidia_cdi = any(d.startswith("nvidia.com/") for d in run_args.cdi_devices)
    # A daemon whose default runtime is nvidia gives GPUs to `-e NVIDIA_VISIBLE_DEVICES=...`.
    by_default = daemon_default == "nvidia" and "NVIDIA_VISIBLE_DEVICES" in run_args.env
    expect.nvidia_requested = bool(run_args.gpus) or nvidia_cdi or \
        run_args.runtime == "nvidia" or by_default
    expect.nvidia_count = _expected_nvidia_count(facts, run_args)
    expect.forbidden = _forbidden_nodes(facts)
    expect.users = ["root", nonroot_user(run_args)]
    return expect


def _devices_under(facts: Facts, host_dir: str, container_dir: str,
                   depth: int = 0) -> Iterator[tuple[str, str, FileStat]]:
    """Device nodes in a folder passed whole (`--device=/dev/dri`), as docker walks it."""
    try:
        names = facts.host.listdir(host_dir)
    except HostError:
        return
    for name in names:
        host_path = f"{host_dir.rstrip('/')}/{name}"
        container_path = f"{container_dir.rstrip('/')}/{name}"
        if facts.host.is_link(host_path):
            continue
        st = _node(facts, host_path)
        if st is None:
            continue
        if st.kind == "char":
            yield host_path, container_path, st
        elif st.kind == "dir" and depth < 2:
            yield from _devices_under(facts, host_path, container_path, depth + 1)


def _expected_nvidia_count(facts: Facts, run_args: RunArgs) -> int | None:
    if run_args.gpus is not None and run_args.gpus.wanted is not None:
        return run_args.gpus.wanted
    try:
        known = len(facts.gpus.by_vendor("nvidia"))
    except (HostError, UserError):
        return None
    return known or None


def _forbidden_nodes(facts: Facts) -> list[ForbiddenNode]:
    try:
        gpus = [g for g in facts.gpus.gpus if g.integrated and not g.selected]
    except (HostError, UserError):
        return []
    nodes: list[ForbiddenNode] = []
    for gpu in gpus:
        for render in gpu.render_nodes:
            st = _node(facts, render)
            if st is not None and st.kind == "char":
                nodes.append(ForbiddenNode(gpu.pci, gpu.label, render, st.major, st.minor))
    return nodes


def nonroot_user(run_args: RunArgs) -> str:
    """The person's own non-root --user, else nobody:nogroup by number."""
    user = run_args.user
    if user and user.split(":")[0] not in ("0", "root"):
        return user
    return NONROOT_USER


# =================================================================================================
# The generated compose file
# =================================================================================================
def _yaml_scalar(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    return "'" + str(value).replace("'", "''") + "'"


def to_yaml(value: Any, indent: int = 0) -> str:
    """Block-style YAML with every string single-quoted (so GIDs stay strings)."""
    return "\n".join(yaml_lines(value, _yaml_scalar, indent))


def compose_service(run_args: RunArgs, image: str, name: str, run_id: str,
                    tool_is_v1: bool) -> dict[str, Any]:
    """The compose service equivalent to `docker create` with these options.

    Written in the Compose Specification format without a `version:` key: Compose v2 reads it
    (and warns about `version:`), and docker-compose 1.27+ (Debian's 1.29) reads a file with
    top-level `services:` and no version as the Compose Specification too. Both take `runtime:`,
    `group_add:`, `devices:` and `deploy.resources.reservations.devices`, which 1.29 turns into
    the Engine API's DeviceRequests (compose/project.py get_device_requests).
    """
    service: dict[str, Any] = {
        "image": image, "container_name": name,
        "labels": {LABEL: run_id, f"{LABEL}.pid": str(os.getpid())},
        "entrypoint": ["/bin/sh"], "command": ["-c", f"sleep {CONTAINER_LIFETIME_S}"],
    }
    if not run_args.network:
        service["network_mode"] = "none"
    unsupported: list[str] = []
    environment: list[str] = []
    for option in run_args.options:
        key = COMPOSE_KEYS.get(option.name)
        value = option.value
        if key is None:
            unsupported.append(option.token())
            continue
        if key in ("privileged", "init", "read_only"):
            service[key] = value != "false"
        elif key == "deploy":
            service["deploy"] = _compose_gpus(run_args.gpus)
        elif key == "devices":
            if _CDI_NAME.match(value or "") and tool_is_v1:
                raise UserError(
                    f"--device {value}: docker-compose 1.29 cannot pass CDI devices; install "
                    "Compose v2 (`docker compose`) or verify without --compose")
            service.setdefault("devices", []).append(value)
        elif key == "environment":
            environment.append(value or "")
        elif key == "labels":
            label, _, label_value = (value or "").partition("=")
            service["labels"][label] = label_value
        elif key in ("user", "runtime", "ipc", "shm_size", "working_dir", "network_mode",
                     "hostname"):
            service[key] = value
        else:
            service.setdefault(key, []).append(value)
    if unsupported:
        raise UserError("the generated compose file cannot carry " + ", ".join(unsupported)
                        + ": verify these arguments without --compose")
    if environment:
        service["environment"] = environment
    return service


def _compose_gpus(gpus: GpuRequest | None) -> dict[str, Any]:
    """`--gpus` as compose's device reservation (the field guide's `driver: nvidia` path)."""
    assert gpus is not None
    device: dict[str, Any] = {"driver": gpus.driver or "nvidia"}
    if gpus.device_ids:
        device["device_ids"] = list(gpus.device_ids)
    else:
        device["count"] = "all" if gpus.count is None or gpus.count < 0 else gpus.count
    caps = ["gpu", *[c for c in gpus.capabilities if c != "gpu"]]
    device["capabilities"] = caps
    return {"resources": {"reservations": {"devices": [device]}}}


def compose_text(service: dict[str, Any]) -> str:
    header = ("# Generated by gpudoctor verify: the GPU arguments as a compose service.\n"
              "# Group ids are quoted because Compose v2 reads group_add entries as strings.\n")
    return header + to_yaml({"services": {"verify": service}}) + "\n"


# =================================================================================================
# Running docker, interruptibly
# =================================================================================================
class VerifyInterrupted(KeyboardInterrupt):
    """SIGINT or SIGTERM arrived; raised once the container is gone (or known to be left)."""

    def __init__(self, signum: int):
        super().__init__(signum)
        self.signum = signum
        self.container: str | None = None
        self.removed = False


class Interrupts:
    """SIGINT/SIGTERM handling for one verification in the main thread.

    A signal cuts the running docker call short, except inside `critical()` (creating the
    container, removing it), where the step finishes first: cutting `docker create` short
    could leave a container the daemon creates after gpudoctor stopped looking for it.
    """

    def __init__(self) -> None:
        self.signum: int | None = None
        self._critical = 0
        self._previous: dict[int, Any] = {}

    @contextlib.contextmanager
    def installed(self) -> Iterator[Interrupts]:
        if threading.current_thread() is not threading.main_thread():
            yield self
            return
        for signum in (signal.SIGINT, signal.SIGTERM):
            self._previous[signum] = signal.signal(signum, self._handle)
        try:
            yield self
        finally:
            for signum, handler in self._previous.items():
                signal.signal(signum, handler)
            self._previous.clear()

    def _handle(self, signum: int, frame: Any) -> None:
        if self.signum is None:
            self.signum = signum
        if self._critical == 0:
            raise VerifyInterrupted(signum)

    @contextlib.contextmanager
    def critical(self) -> Iterator[None]:
        self._critical += 1
        try:
            yield
        finally:
            self._critical -= 1

    def check(self) -> None:
        if self.signum is not None:
            raise VerifyInterrupted(self.signum)


#: Containers that exist right now, removed at exit if a verification was cut off (a check
#: thread abandoned by the runner's timeout, or an exception nobody expected).
_LIVE: dict[str, tuple[str, dict[str, str]]] = {}
_LIVE_LOCK = threading.Lock()


def _remove_leftovers() -> None:
    with _LIVE_LOCK:
        leftovers = list(_LIVE.items())
    for name, (docker, env) in leftovers:
        changes.execute([docker, "rm", "-f", name], T_REMOVE, env=env)


atexit.register(_remove_leftovers)


class DockerCli:
    """Runs docker (and compose) commands against the chosen daemon, each with a timeout."""

    def __init__(self, docker: str, env: dict[str, str], interrupts: Interrupts | None,
                 deadline: float | None = None):
        self.docker = docker
        self.env = env
        self.interrupts = interrupts
        self.deadline = deadline
        self.commands: list[list[str]] = []

    def limit(self, timeout: float) -> float:
        if self.deadline is None:
            return timeout
        return max(1.0, min(timeout, self.deadline - time.monotonic()))

    def run(self, argv: list[str], timeout: float, record: bool = True,
            use_deadline: bool = True) -> CommandResult:
        if record:
            self.commands.append([PROBE_MARK if arg == PROBE else arg for arg in argv])
        limit = self.limit(timeout) if use_deadline else timeout
        return changes.execute(argv, limit, env=self.env)

    def docker_run(self, *args: str, timeout: float = T_QUICK, record: bool = True,
                   use_deadline: bool = True) -> CommandResult:
        return self.run([self.docker, *args], timeout, record, use_deadline)


def daemon_message(result: CommandResult) -> str:
    """The daemon's own words from a failed docker/compose call, without the CLI's framing."""
    if result.missing:
        return f"{result.argv[0]}: command not found"
    if result.timed_out:
        return f"`{' '.join(result.argv[:3])}` did not finish within {result.timeout:g} s"
    text = (result.stderr or result.stdout).strip()
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    noise = ("Error: failed to start containers", "Run 'docker", "See 'docker",
             "Encountered errors while bringing up", "Creating ", "Starting ", "Container ")
    useful = [ln for ln in lines if not ln.startswith(noise)]
    for line in useful:
        if map_error(line):
            return _strip_prefix(line)
    return _strip_prefix(useful[0] if useful else (lines[0] if lines else "no output"))


def _cli_not_answering(result: CommandResult) -> Cause:
    """The docker CLI hung or is missing: say so, never guess what it would have said."""
    command = " ".join(result.argv[:3])
    if result.missing:
        return _cause("docker-cli-missing", f"`{result.argv[0]}` cannot be run: "
                      f"{result.stderr or 'not installed'}",
                      remedy="Install the docker CLI (Debian/Ubuntu: docker.io or docker-ce-cli).",
                      checks=("docker.daemon",))
    return _cause(
        "docker-cli-timed-out", f"`{command}` did not finish within {result.timeout:g} s: the "
        "docker CLI (or the daemon behind it) is not answering",
        "Nothing is known about the image or the GPUs: the command never finished.",
        "Check that `docker version` answers quickly (a hung daemon, a slow credential helper "
        "or a remote context are the usual causes), then run verify again.",
        checks=("docker.daemon",))


def _strip_prefix(line: str) -> str:
    """`docker: ` (docker run) and `ERROR: for NAME  ` (docker-compose 1.x) are not the daemon's."""
    line = re.sub(r"^ERROR: for \S+\s+", "", line.removeprefix("docker: "))
    return line.removeprefix("ERROR: ").strip()


# =================================================================================================
# The probe that runs inside the container
# =================================================================================================
#: POSIX sh (busybox, alpine, dash, bash). $1: "nvidia" to run nvidia-smi; then device paths.
#: Output: tab-separated lines starting with "gdv".
#: `docker exec` does not inherit the environment dockerd puts only into the container's main
#: process (the --gpus path sets NVIDIA_VISIBLE_DEVICES there), so the probe takes NVIDIA_*
#: from PID 1 where it may read it (as root), to see what the workload itself sees; the engine
#: hands the values to the non-root pass with `docker exec -e`.
#: How the probe script appears in the JSON's `commands` (it is long and always the same).
PROBE_MARK = "<gpudoctor probe script>"
PROBE = r"""
want=$1; shift
if [ -r /proc/1/environ ]; then
  for kv in $(tr '\0' '\n' < /proc/1/environ 2>/dev/null | grep '^NVIDIA_'); do export "$kv"; done
fi
printf 'gdv\tuid\t%s\n' "$(id -u)"
printf 'gdv\tgids\t%s\n' "$(id -G)"
for p in "$@"; do
  if [ ! -e "$p" ]; then printf 'gdv\tdev\tmissing\t%s\n' "$p"; continue; fi
  if [ ! -c "$p" ]; then
    printf 'gdv\tdev\tnotchar\t%s\t%s\n' "$p" "$(ls -ld "$p" 2>&1)"; continue
  fi
  meta=$(stat -c '%a %u %g %t %T' "$p" 2>/dev/null || echo '? ? ? ? ?')
  if err=$( (exec 3<>"$p") 2>&1 ); then
    printf 'gdv\tdev\trw\t%s\t%s\n' "$p" "$meta"
  else
    printf 'gdv\tdev\tdenied\t%s\t%s\t%s\n' "$p" "$meta" "$(echo $err)"
  fi
done
for f in /dev/dri/* /dev/dri/*/*; do
  [ -c "$f" ] && printf 'gdv\tdri\t%s\t%s\n' "$f" "$(stat -c '%t %T' "$f" 2>/dev/null)"
done
for f in /dev/nvidia*; do [ -c "$f" ] && printf 'gdv\tnvdev\t%s\n' "$f"; done
printf 'gdv\tnvenv\t%s\n' "${NVIDIA_VISIBLE_DEVICES-<unset>}"
printf 'gdv\tnvcaps\t%s\n' "${NVIDIA_DRIVER_CAPABILITIES-<unset>}"
if [ "$want" = nvidia ]; then
  if command -v nvidia-smi >/dev/null 2>&1; then
    if timeout 5 true >/dev/null 2>&1; then
      out=$(timeout %SMI% nvidia-smi -L 2>&1); rc=$?
    else
      out=$(nvidia-smi -L 2>&1); rc=$?
    fi
    printf 'gdv\tsmi\t%s\t%s\n' "$rc" "$(command -v nvidia-smi)"
    printf '%s\n' "$out" | while IFS= read -r line; do printf 'gdv\tsmiout\t%s\n' "$line"; done
  else
    printf 'gdv\tsmi\tabsent\n'
  fi
fi
printf 'gdv\tend\n'
""".replace("%SMI%", str(SMI_TIMEOUT_S))


@dataclass
class DeviceSeen:
    path: str
    state: str  # rw, denied, missing, notchar
    mode: int | None = None
    uid: int | None = None
    gid: int | None = None
    major: int | None = None
    minor: int | None = None
    error: str = ""

    def describe(self) -> str:
        if self.mode is None:
            return self.path
        return (f"character device {self.major}:{self.minor}, mode {self.mode:04o}, owner "
                f"{self.uid}:{self.gid}")


@dataclass
class ProbeOutput:
    """What one probe pass saw."""

    user: str
    uid: int | None = None
    gids: list[int] = field(default_factory=list)
    devices: dict[str, DeviceSeen] = field(default_factory=dict)
    dri: list[tuple[str, int, int]] = field(default_factory=list)
    nvidia_nodes: list[str] = field(default_factory=list)
    nvidia_env: str | None = None
    nvidia_caps: str | None = None
    smi_state: str | None = None  # None (not run), "absent", or the exit status
    smi_path: str = ""
    smi_lines: list[str] = field(default_factory=list)
    complete: bool = False
    raw: str = ""


def _int(text: str, base: int = 10) -> int | None:
    try:
        return int(text, base)
    except ValueError:
        return None


def parse_probe(user: str, text: str) -> ProbeOutput:
    out = ProbeOutput(user=user, raw=text)
    for line in text.splitlines():
        parts = line.split("\t")
        if len(parts) < 2 or parts[0] != "gdv":
            continue
        kind = parts[1]
        if kind == "uid" and len(parts) > 2:
            out.uid = _int(parts[2])
        elif kind == "gids" and len(parts) > 2:
            out.gids = [g for g in (_int(x) for x in parts[2].split()) if g is not None]
        elif kind == "dev" and len(parts) > 3:
            seen = DeviceSeen(path=parts[3], state=parts[2])
            if parts[2] in ("rw", "denied") and len(parts) > 4:
                meta = parts[4].split()
                if len(meta) == 5:
                    seen.mode = _int(meta[0], 8)
                    seen.uid, seen.gid = _int(meta[1]), _int(meta[2])
                    seen.major, seen.minor = _int(meta[3], 16), _int(meta[4], 16)
            if parts[2] == "denied" and len(parts) > 5:
                seen.error = parts[5]
            elif parts[2] == "notchar" and len(parts) > 4:
                seen.error = parts[4]
            out.devices[seen.path] = seen
        elif kind == "dri" and len(parts) > 3:
            numbers = parts[3].split()
            if len(numbers) == 2:
                major, minor = _int(numbers[0], 16), _int(numbers[1], 16)
                if major is not None and minor is not None:
                    out.dri.append((parts[2], major, minor))
        elif kind == "nvdev" and len(parts) > 2:
            out.nvidia_nodes.append(parts[2])
        elif kind == "nvenv" and len(parts) > 2:
            out.nvidia_env = None if parts[2] == "<unset>" else parts[2]
        elif kind == "nvcaps" and len(parts) > 2:
            out.nvidia_caps = None if parts[2] == "<unset>" else parts[2]
        elif kind == "smi" and len(parts) > 2:
            out.smi_state = parts[2]
            out.smi_path = parts[3] if len(parts) > 3 else ""
        elif kind == "smiout" and len(parts) > 2:
            out.smi_lines.append(parts[2])
        elif kind == "end":
            out.complete = True
    return out


# =================================================================================================
# Results
# =================================================================================================
@dataclass
class Item:
    """One thing verified: the container started, a device opened as some user, ..."""

    id: str
    status: str  # pass, warn, fail, skip
    summary: str
    target: str | None = None
    user: str | None = None
    evidence: list[str] = field(default_factory=list)
    cause: Cause | None = None

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "status": self.status, "summary": self.summary,
                "target": self.target, "user": self.user, "evidence": list(self.evidence),
                "cause": self.cause.id if self.cause else None}


@dataclass
class VerifyResult:
    verdict: str = "error"  # pass, warn, fail, error
    summary: str = ""
    method: str = "docker"
    endpoint: str = ""
    image: str | None = None
    image_source: str | None = None
    args: list[str] = field(default_factory=list)
    args_source: str = "report"
    dropped: list[str] = field(default_factory=list)
    container: str | None = None
    removed: bool | None = None
    commands: list[list[str]] = field(default_factory=list)
    compose: dict[str, Any] | None = None
    expected: Expectations | None = None
    items: list[Item] = field(default_factory=list)
    cause: Cause | None = None
    error: str | None = None
    #: Set when the verification stopped before the container (no daemon, no image...).
    decided: bool = False

    @property
    def exit_code(self) -> int:
        """0 pass/warn; 1 fail; 2 when it could not run for want of --pull or --image."""
        if self.verdict in ("pass", "warn"):
            return 0
        if self.verdict == "error" and self.cause is not None and \
                self.cause.id == "image-not-present":
            return 2
        return 1

    def to_json(self) -> dict[str, Any]:
        return {
            "schema": SCHEMA_ID, "gpudoctor_version": __version__, "verdict": self.verdict,
            "summary": self.summary, "method": self.method, "endpoint": self.endpoint,
            "image": self.image, "image_source": self.image_source, "args": list(self.args),
            "args_source": self.args_source, "dropped_args": list(self.dropped),
            "container": self.container, "removed": self.removed,
            "commands": [list(c) for c in self.commands], "compose": self.compose,
            "expected": self.expected.to_json() if self.expected else None,
            "items": [i.to_json() for i in self.items],
            "cause": self.cause.to_json() if self.cause else None, "error": self.error,
        }

    def finish(self) -> VerifyResult:
        """Decide the verdict and summary from the items (unless decided before any ran)."""
        if self.decided:
            return self
        failing = [i for i in self.items if i.status == "fail"]
        warning = [i for i in self.items if i.status == "warn"]
        if failing:
            self.verdict = "fail"
            first = failing[0]
            self.cause = self.cause or first.cause
            self.summary = self.cause.summary if self.cause else first.summary
        elif warning:
            self.verdict = "warn"
            self.summary = warning[0].summary
            self.cause = self.cause or warning[0].cause
        else:
            self.verdict = "pass"
            self.summary = _pass_summary(self)
        return self


def _pass_summary(result: VerifyResult) -> str:
    users = " and ".join(result.expected.users) if result.expected else "root"
    parts = []
    devices = [i.target for i in result.items if i.id == "device" and i.user == "root"]
    if devices:
        parts.append(f"opened {', '.join(str(d) for d in devices)} read-write as {users}")
    smi = [i for i in result.items if i.id == "nvidia-smi" and i.status == "pass"]
    if smi:
        parts.append(smi[0].summary.rsplit(" as ", 1)[0] + " as " +
                     " and ".join(str(i.user) for i in smi))
    what = "; ".join(parts) if parts else "it ran"
    return f"a container with these arguments started and {what}"


#: The JSON Schema of `gpudoctor verify --json` (a stable, small document for scripts).
VERIFY_SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "title": "gpudoctor verify --json, schema gpudoctor.verify/1",
    "type": "object",
    "required": ["schema", "gpudoctor_version", "verdict", "summary", "method", "endpoint",
                 "image", "args", "args_source", "container", "removed", "items", "cause",
                 "error"],
    "properties": {
        "schema": {"const": SCHEMA_ID},
        "gpudoctor_version": {"type": "string"},
        "verdict": {"enum": ["pass", "warn", "fail", "error"]},
        "summary": {"type": "string", "minLength": 1},
        "method": {"enum": ["docker", "compose"]},
        "endpoint": {"type": "string"},
        "image": {"type": ["string", "null"]},
        "image_source": {"enum": ["requested", "present", "pulled", None]},
        "args": {"type": "array", "items": {"type": "string"}},
        "args_source": {"enum": ["report", "command line"]},
        "dropped_args": {"type": "array", "items": {"type": "string"}},
        "container": {"type": ["string", "null"]},
        "removed": {"type": ["boolean", "null"]},
        "commands": {"type": "array", "items": {"type": "array", "items": {"type": "string"}}},
        "compose": {"type": ["object", "null"],
                    "required": ["command", "file"],
                    "properties": {"command": {"type": "array", "items": {"type": "string"}},
                                   "version": {"type": ["string", "null"]},
                                   "file": {"type": "string"}}},
        "expected": {"type": ["object", "null"]},
        "items": {"type": "array", "items": {
            "type": "object", "required": ["id", "status", "summary", "target", "user",
                                           "evidence", "cause"],
            "properties": {
                "id": {"enum": ["start", "runtime", "probe", "device", "groups", "rocm",
                                "integrated", "nvidia-smi", "gpu-request", "cleanup"]},
                "status": {"enum": ["pass", "warn", "fail", "skip"]},
                "summary": {"type": "string", "minLength": 1},
                "target": {"type": ["string", "null"]},
                "user": {"type": ["string", "null"]},
                "evidence": {"type": "array", "items": {"type": "string"}},
                "cause": {"type": ["string", "null"]}}}},
        "cause": {"type": ["object", "null"],
                  "required": ["id", "summary", "details", "remedy", "checks", "fixes"],
                  "properties": {"id": {"type": "string"}, "summary": {"type": "string"},
                                 "details": {"type": "string"}, "remedy": {"type": "string"},
                                 "checks": {"type": "array", "items": {"type": "string"}},
                                 "fixes": {"type": "array", "items": {"type": "string"}},
                                 "matched": {"type": "string"}}},
        "error": {"type": ["string", "null"]},
    },
}


# =================================================================================================
# The verification
# =================================================================================================
@dataclass
class VerifyRequest:
    """What the person asked for."""

    args: list[str] | None = None  # None: the report's docker_run_args
    image: str | None = None
    compose: bool = False
    pull: bool = False
    #: Seconds the whole verification may take (the docker.smoke check sets one).
    budget: float | None = None


def _cause(cause_id: str, summary: str, details: str = "", remedy: str = "",
           checks: tuple[str, ...] = (), fixes: tuple[str, ...] = ()) -> Cause:
    return Cause(cause_id, summary, details, remedy, checks, fixes)


def cli_environment(facts: Facts) -> dict[str, str]:
    """The docker CLI's environment: pointed at the daemon facts.docker chose."""
    env = dict(os.environ)
    daemon = facts.docker
    if daemon.endpoint_source in ("DOCKER_HOST", "the default socket"):
        env["DOCKER_HOST"] = daemon.endpoint
        env.pop("DOCKER_CONTEXT", None)
    env.setdefault("DOCKER_CLI_HINTS", "false")
    return env


def run_verification(facts: Facts, request: VerifyRequest,
                     interrupts: Interrupts | None = None,
                     progress: Callable[[str], None] | None = None) -> VerifyResult:
    """Verify on the live host. UserError for a bad request; VerifyInterrupted on a signal."""
    return _Session(facts, request, interrupts, progress).run()


class _Session:
    def __init__(self, facts: Facts, request: VerifyRequest, interrupts: Interrupts | None,
                 progress: Callable[[str], None] | None):
        self.facts = facts
        self.request = request
        self.interrupts = interrupts
        self.progress = progress or (lambda line: None)
        self.result = VerifyResult(method="compose" if request.compose else "docker")
        self.run_id = secrets.token_hex(4)
        self.name = NAME_PREFIX + self.run_id
        self.cli: DockerCli | None = None
        self.compose_cmd: list[str] | None = None
        self.compose_dir: str | None = None
        #: a create was attempted (so cleanup must look), and it really produced a container
        self.created = False
        self.existed = False

    # ----- the whole run ------------------------------------------------------------------------
    def run(self) -> VerifyResult:
        if not self.facts.host.live:
            raise UserError("verify starts a real container, which works only on the live host "
                            "(not with --root)")
        result = self.result
        run_args = self._arguments()
        daemon = self.facts.docker
        result.endpoint = daemon.endpoint
        if not run_args.source and result.args_source == "report":
            return self._error(_cause(
                "no-gpu-arguments", "the report has no docker run arguments: no usable GPU is "
                "selected on this host, so there is nothing to give a container",
                "verify tests the report's docker_run_args unless it is given arguments.",
                "Run `gpudoctor check` to see why (gpu.present, kernel.driver), choose GPUs "
                "with --gpu or --include-integrated, or test arguments of your own: "
                "`gpudoctor verify -- --gpus=all`.", ("gpu.present",)), verdict="fail")
        expect = build_expectations(self.facts, run_args)
        result.expected = expect
        if not daemon.reachable:
            return self._error_from_daemon(daemon.error or "the Docker daemon does not answer")
        docker = self.facts.host.which("docker")
        if docker is None:
            return self._error(_cause(
                "docker-cli-missing", "the docker command is not installed",
                "verify starts the container with the person's own docker CLI, so that the "
                "daemon's errors are exactly the ones `docker run` would print.",
                "Install the Docker CLI (docker-ce-cli or docker.io)."), verdict="fail")
        deadline = time.monotonic() + self.request.budget if self.request.budget else None
        self.cli = DockerCli(docker, cli_environment(self.facts), self.interrupts, deadline)
        if self.request.compose:
            self.compose_cmd = self._find_compose()
            if self.compose_cmd is None:
                return self._error(_cause(
                    "compose-missing", "neither `docker compose` (v2) nor `docker-compose` is "
                    "installed", "--compose starts the container through a compose file.",
                    "Install the Compose v2 plugin (docker-compose-plugin) or Debian's "
                    "docker-compose package."), verdict="fail")
        try:
            if not self._choose_image(expect):
                return result
            try:
                self._start_and_probe(run_args, expect)
            except VerifyInterrupted as exc:
                self._cleanup_guarded()
                exc.container, exc.removed = self.name, bool(result.removed)
                raise
            except BaseException:
                self._cleanup_guarded()
                raise
            self._cleanup_guarded()
            if self.interrupts is not None:
                try:
                    self.interrupts.check()
                except VerifyInterrupted as exc:
                    exc.container, exc.removed = self.name, bool(result.removed)
                    raise
        finally:
            result.commands = list(self.cli.commands)
        return result.finish()

    def _arguments(self) -> RunArgs:
        result = self.result
        if self.request.args is not None:
            run_args = parse_run_args(self.request.args)
            result.args_source = "command line"
        else:
            try:
                run_args = parse_run_args(list(self.facts.docker_run_args))
            except UserError as exc:
                raise UserError(f"the report's docker_run_args cannot be used: {exc}") from exc
            result.args_source = "report"
        result.args = run_args.tokens
        result.dropped = run_args.dropped
        return run_args

    def _error(self, cause: Cause, verdict: str = "error", error: str | None = None
               ) -> VerifyResult:
        self.result.verdict = verdict
        self.result.decided = True
        self.result.cause = cause
        self.result.summary = cause.summary
        self.result.error = error
        return self.result

    def _error_from_daemon(self, message: str) -> VerifyResult:
        cause = map_error(message) or _cause(
            "daemon-unreachable", f"the Docker daemon cannot be asked: {message}",
            checks=("docker.daemon",))
        return self._error(cause, verdict="fail", error=message)

    # ----- image --------------------------------------------------------------------------------
    def _choose_image(self, expect: Expectations) -> bool:
        result = self.result
        assert self.cli is not None
        wanted = self.request.image
        if wanted:
            present = self.cli.docker_run("image", "inspect", "--format", "{{.Id}}", wanted,
                                          record=False)
            if present.ok:
                result.image, result.image_source = wanted, "requested"
                return True
            if present.timed_out or present.missing:  # not an answer about the image
                self._error(_cli_not_answering(present), verdict="fail",
                            error=daemon_message(present))
                return False
            if not self.request.pull:
                self._error(_cause(
                    "image-not-present", f"the image {wanted} is not present on this daemon",
                    "verify never pulls an image unless asked.",
                    f"Re-run with --pull, or pull it first: `docker pull {wanted}`."))
                return False
            return self._pull(wanted)
        found = self._local_small_image(expect.nvidia_requested)
        if found:
            result.image, result.image_source = found, "present"
            return True
        suggestion = DEFAULT_PULL_NVIDIA if expect.nvidia_requested else DEFAULT_PULL
        if self.request.pull:
            return self._pull(suggestion)
        why = ("NVIDIA's injected nvidia-smi needs a glibc image; ubuntu is the image NVIDIA's "
               "own sample workload uses." if expect.nvidia_requested else
               "busybox is about 4 MB and has everything the probe needs.")
        self._error(_cause(
            "image-not-present", "no small image (busybox, alpine, debian, ubuntu...) is present "
            f"on this daemon; verify needs one and never pulls unless asked ({suggestion})",
            why, f"Re-run with --pull (it pulls {suggestion}), pull it yourself "
            f"(`docker pull {suggestion}`), or name a present image with --image."))
        return False

    def _pull(self, image: str) -> bool:
        assert self.cli is not None
        self.progress(f"pulling {image} (--pull)...")
        pulled = self.cli.docker_run("pull", image, timeout=T_PULL)
        if not pulled.ok:
            message = daemon_message(pulled)
            self._error(map_error(message) or _cause(
                "image-pull-failed", f"pulling {image} failed: {message}",
                remedy=f"Check the name and the network, or pull it yourself: `docker pull "
                       f"{image}`."), error=message)
            return False
        self.result.image, self.result.image_source = image, "pulled"
        return True

    def _local_small_image(self, nvidia: bool) -> str | None:
        """The smallest image of a known small family that is already present."""
        tags = self._local_images()
        families = GLIBC_FAMILIES + tuple(f for f in SMALL_FAMILIES if f not in GLIBC_FAMILIES) \
            if nvidia else SMALL_FAMILIES
        for family in families:
            matches = [(size, tag) for tag, size in tags
                       if tag.rsplit(":", 1)[0].rsplit("/", 1)[-1] == family]
            if matches:
                return min(matches)[1]
        return None

    def _local_images(self) -> list[tuple[str, int]]:
        daemon = self.facts.docker
        try:
            images = self.facts.host.docker_api("/images/json", daemon.endpoint, T_QUICK)
            tags: list[tuple[str, int]] = []
            for image in images or []:
                for tag in image.get("RepoTags") or []:
                    if tag and "<none>" not in tag:
                        tags.append((tag, int(image.get("Size") or 0)))
            return tags
        except (DockerUnavailable, AttributeError, TypeError, ValueError):
            pass
        assert self.cli is not None
        listed = self.cli.docker_run("image", "ls", "--format", "{{.Repository}}:{{.Tag}}",
                                     record=False)
        return [(line.strip(), 0) for line in listed.stdout.splitlines()
                if line.strip() and "<none>" not in line]

    # ----- compose ------------------------------------------------------------------------------
    def _find_compose(self) -> list[str] | None:
        assert self.cli is not None
        v2 = self.cli.docker_run("compose", "version", "--short", record=False)
        if v2.ok:
            self.result.compose = {"command": [self.cli.docker, "compose"],
                                   "version": v2.stdout.strip() or None, "file": ""}
            return [self.cli.docker, "compose"]
        standalone = self.facts.host.which("docker-compose")
        if standalone is None:
            return None
        version = self.cli.run([standalone, "version", "--short"], T_QUICK, record=False)
        self.result.compose = {"command": [standalone],
                               "version": version.stdout.strip() or None, "file": ""}
        return [standalone]

    @property
    def _compose_is_v1(self) -> bool:
        version = (self.result.compose or {}).get("version") or ""
        return version.startswith("1.")

    # ----- start, probe -------------------------------------------------------------------------
    def _register(self) -> None:
        assert self.cli is not None
        with _LIVE_LOCK:
            _LIVE[self.name] = (self.cli.docker, self.cli.env)

    def _start_and_probe(self, run_args: RunArgs, expect: Expectations) -> None:
        assert self.cli is not None and self.result.image is not None
        result = self.result
        result.container = self.name
        if self.request.compose:
            started = self._compose_up(run_args)
        else:
            started = self._docker_start(run_args)
        if not started:
            return
        self._runtime_item(run_args)
        want = "nvidia" if expect.nvidia_requested or run_args.env.get(
            "NVIDIA_VISIBLE_DEVICES") else "-"
        paths = [d.path for d in expect.devices]
        passes: list[ProbeOutput] = []
        for user in expect.users:
            self.progress(f"probing as {user}...")
            env: list[str] = []
            root_pass = passes[0] if passes else None
            if root_pass is not None and root_pass.nvidia_env is not None:
                env += ["-e", f"NVIDIA_VISIBLE_DEVICES={root_pass.nvidia_env}"]
            if root_pass is not None and root_pass.nvidia_caps is not None:
                env += ["-e", f"NVIDIA_DRIVER_CAPABILITIES={root_pass.nvidia_caps}"]
            probe = self.cli.docker_run("exec", "-u", "0:0" if user == "root" else user, *env,
                                        self.name, "/bin/sh", "-c", PROBE, "gpudoctor-probe",
                                        want, *paths, timeout=T_EXEC)
            output = parse_probe(user, probe.stdout)
            if not output.complete:
                message = daemon_message(probe)
                result.items.append(Item(
                    "probe", "fail", f"the probe did not run as {user}: {message}", user=user,
                    evidence=[probe.stdout.strip()[-500:]] if probe.stdout.strip() else [],
                    cause=explain_error(probe.stderr + probe.stdout, self.facts)))
                result.error = result.error or message
                continue
            passes.append(output)
        judge(result, expect, run_args, passes)

    def _docker_start(self, run_args: RunArgs) -> bool:
        assert self.cli is not None and self.result.image is not None
        create = ["create", "--name", self.name, "--label", f"{LABEL}={self.run_id}",
                  "--label", f"{LABEL}.pid={os.getpid()}", "--rm"]
        if not run_args.network:
            create.append("--network=none")
        create += ["--entrypoint=/bin/sh", *run_args.tokens, self.result.image, "-c",
                   f"sleep {CONTAINER_LIFETIME_S}"]
        self.progress(f"creating {self.name} from {self.result.image}...")
        self._register()
        ctx = self.interrupts.critical() if self.interrupts else contextlib.nullcontext()
        with ctx:
            created = self.cli.docker_run(*create, timeout=T_CREATE)
            self.created = True
        if self.interrupts is not None:
            self.interrupts.check()
        if not created.ok:
            return self._start_failed("create", created)
        self.existed = True
        started = self.cli.docker_run("start", self.name, timeout=T_START)
        if not started.ok:
            return self._start_failed("start", started)
        self.result.items.append(Item("start", "pass", f"container {self.name} started",
                                      evidence=[" ".join(["docker", *create])]))
        return True

    def _compose_up(self, run_args: RunArgs) -> bool:
        assert self.cli is not None and self.compose_cmd is not None
        service = compose_service(run_args, str(self.result.image), self.name, self.run_id,
                                  self._compose_is_v1)
        text = compose_text(service)
        self.compose_dir = changes.scratch_dir("gpudoctor-verify-")
        path = changes.write_scratch(self.compose_dir, "compose.yaml", text)
        assert self.result.compose is not None
        self.result.compose["file"] = text
        self.progress(f"docker compose up for {self.name}...")
        self._register()
        ctx = self.interrupts.critical() if self.interrupts else contextlib.nullcontext()
        with ctx:
            up = self.cli.run([*self.compose_cmd, "-p", self.name, "-f", path, "up", "-d"],
                              T_COMPOSE_UP)
            self.created = True
        if self.interrupts is not None:
            self.interrupts.check()
        self.existed = self.existed or bool(self._left_behind())
        if not up.ok:
            return self._start_failed("compose up", up)
        self.result.items.append(Item("start", "pass", f"compose started {self.name}",
                                      evidence=[f"{' '.join(self.compose_cmd)} -p {self.name} "
                                                f"-f {path} up -d"]))
        return True

    def _start_failed(self, step: str, outcome: CommandResult) -> bool:
        message = daemon_message(outcome)
        full = (outcome.stderr or outcome.stdout).strip()
        cause = explain_error(full, self.facts) or explain_error(message, self.facts)
        self.result.error = message
        self.result.items.append(Item(
            "start", "fail", f"the container did not start ({step}): {message}",
            evidence=[line for line in full.splitlines() if line.strip()][-8:], cause=cause))
        return False

    def _runtime_item(self, run_args: RunArgs) -> None:
        if not run_args.runtime:
            return
        assert self.cli is not None
        inspected = self.cli.docker_run("inspect", "--type", "container", "--format",
                                        "{{.HostConfig.Runtime}}", self.name, record=False)
        used = inspected.stdout.strip()
        if used == run_args.runtime:
            self.result.items.append(Item("runtime", "pass", f"the container runs with the "
                                          f"`{used}` runtime", target=used))
        else:
            self.result.items.append(Item(
                "runtime", "fail", f"asked for runtime `{run_args.runtime}`, the daemon used "
                f"`{used or 'unknown'}`", target=run_args.runtime))

    # ----- cleanup ------------------------------------------------------------------------------
    def _cleanup_guarded(self) -> None:
        for _ in range(3):
            try:
                ctx = self.interrupts.critical() if self.interrupts else \
                    contextlib.nullcontext()
                with ctx:
                    self._cleanup()
                return
            except VerifyInterrupted:
                continue  # a signal slipped in before the cleanup was shielded: do it again

    def _cleanup(self) -> None:
        if self.cli is None or not self.created:
            self._remove_compose_dir()
            return
        cli = self.cli
        removed = cli.docker_run("rm", "-f", self.name, timeout=T_REMOVE, use_deadline=False)
        if self.compose_cmd is not None:
            # What `compose down` would remove besides the container, without its stop timeout:
            # networks of the project (none with network_mode, but a person's --network may).
            networks = cli.docker_run("network", "ls", "-q", "--filter",
                                      f"label=com.docker.compose.project={self.name}",
                                      timeout=T_QUICK, record=False, use_deadline=False)
            for network in networks.stdout.split():
                cli.docker_run("network", "rm", network, timeout=T_REMOVE, use_deadline=False)
        # The container is created with --rm, so the daemon may be removing it already; give
        # that a moment, and remove whatever carries this run's label.
        left = self._left_behind()
        until = time.monotonic() + T_REMOVE
        while left and time.monotonic() < until:
            for container_id in left:
                cli.docker_run("rm", "-f", container_id, timeout=T_REMOVE, use_deadline=False,
                               record=False)
            time.sleep(0.2)
            left = self._left_behind()
        self._remove_compose_dir()
        self.result.removed = not left
        if not left:
            with _LIVE_LOCK:
                _LIVE.pop(self.name, None)
            what = f"container {self.name} removed" if removed.ok and self.existed else \
                f"no container left behind ({self.name} was never created)"
            self.result.items.append(Item("cleanup", "pass", what, target=self.name))
        else:
            self.result.items.append(Item(
                "cleanup", "warn", f"container {self.name} could not be removed: remove it with "
                f"`docker rm -f {self.name}`", target=self.name, evidence=left))

    def _left_behind(self) -> list[str]:
        assert self.cli is not None
        listed = self.cli.docker_run("ps", "-a", "-q", "--filter", f"label={LABEL}={self.run_id}",
                                     timeout=T_QUICK, record=False, use_deadline=False)
        if not listed.ok:
            return [self.name]
        return [line.strip() for line in listed.stdout.splitlines() if line.strip()]

    def _remove_compose_dir(self) -> None:
        if self.compose_dir:
            changes.remove_scratch(self.compose_dir)
            self.compose_dir = None


# =================================================================================================
# Judging what the probe saw
# =================================================================================================
def judge(result: VerifyResult, expect: Expectations, run_args: RunArgs,
          passes: list[ProbeOutput]) -> None:
    """Turn the probe passes into items, each failing one with its cause."""
    for dev in expect.devices:
        for output in passes:
            seen = output.devices.get(dev.path)
            result.items.append(_device_item(dev, seen, output, expect))
    nonroot = next((p for p in passes if p.user != "root"), None)
    if nonroot is not None and (expect.group_ids or run_args.group_add):
        result.items.append(_groups_item(nonroot, expect, run_args))
    root = next((p for p in passes if p.user == "root"), None)
    if root is not None:
        rocm = _rocm_item(root, expect)
        if rocm:
            result.items.append(rocm)
        leak = _integrated_item(root, expect)
        if leak:
            result.items.append(leak)
    nvidia_expected = expect.nvidia_requested and (
        bool(run_args.gpus) or any(d.startswith("nvidia.com/") for d in run_args.cdi_devices)
        or any(_visible(p.nvidia_env) for p in passes))
    for output in passes:
        if output.smi_state is not None and (nvidia_expected or output.smi_state != "absent"):
            result.items.append(_smi_item(output, expect, nvidia_expected))
    if expect.nvidia_requested and not nvidia_expected and passes:
        result.items.append(Item(
            "gpu-request", "warn", f"`--runtime={run_args.runtime or 'nvidia'}` is in use but "
            "the container's NVIDIA_VISIBLE_DEVICES is unset, so the runtime gives it no GPU",
            evidence=[f"NVIDIA_VISIBLE_DEVICES in the container: "
                      f"{passes[0].nvidia_env or 'unset'}"],
            cause=_cause("no-gpu-requested", "the nvidia runtime was given no GPU to inject",
                         "The nvidia runtime injects the GPUs NVIDIA_VISIBLE_DEVICES names; CUDA "
                         "images set it, other images do not.",
                         "Add `--gpus=all` (or `-e NVIDIA_VISIBLE_DEVICES=all`).",
                         ("docker.nvidia_runtime",))))
    asked_for_gpu = bool(expect.devices or run_args.gpus or run_args.cdi_devices or
                         run_args.privileged or expect.nvidia_requested)
    if not asked_for_gpu and passes:
        result.items.append(Item(
            "gpu-request", "warn", "these arguments give the container no GPU: no --device, "
            "--gpus or nvidia runtime", cause=_cause(
                "no-gpu-requested", "the arguments request no GPU",
                remedy="Use the arguments `gpudoctor devices` prints, or pass your own after "
                       "`--`.", checks=("gpu.present",))))


def _visible(env: str | None) -> bool:
    return bool(env) and env not in ("void", "none", "")


def _device_item(dev: ExpectedDevice, seen: DeviceSeen | None, output: ProbeOutput,
                 expect: Expectations) -> Item:
    user = output.user
    evidence = [dev.describe_host(), f"from {dev.source}"]
    if seen is None or seen.state == "missing":
        return Item("device", "fail", f"{dev.path} is not in the container", target=dev.path,
                    user=user, evidence=evidence, cause=_cause(
                        "device-not-in-container", f"{dev.path} is not in the container",
                        "Docker did not create the node: it is not among the passed devices.",
                        f"Pass it with `--device={dev.host_path}`.", ("devices.nodes",)))
    if seen.state == "notchar":
        return Item("device", "fail", f"{dev.path} in the container is not a character device",
                    target=dev.path, user=user, evidence=[*evidence, seen.error],
                    cause=_cause("device-not-char", f"{dev.path} is not a character device",
                                 remedy="Pass the real device node with --device.",
                                 checks=("devices.nodes",)))
    evidence.insert(0, f"in the container: {seen.describe()}")
    if user != "root":
        evidence.append(f"{user} holds groups {' '.join(map(str, output.gids)) or 'none'}")
    if seen.state == "rw":
        return Item("device", "pass", f"{dev.path} opened read-write as {user}", target=dev.path,
                    user=user, evidence=evidence)
    evidence.append(f"open: {seen.error}")
    return Item("device", "fail", f"{dev.path} cannot be opened read-write as {user}: "
                f"{_errno_text(seen.error)}", target=dev.path, user=user, evidence=evidence,
                cause=_open_cause(dev, seen, output))


def _errno_text(error: str) -> str:
    for text in ("Permission denied", "Operation not permitted", "No such device or address",
                 "No such device", "Read-only file system", "No such file or directory"):
        if text.lower() in error.lower():
            return text
    return error or "failed"


def _open_cause(dev: ExpectedDevice, seen: DeviceSeen, output: ProbeOutput) -> Cause:
    error = _errno_text(seen.error)
    root = output.user == "root"
    checks_dev = ("devices.nodes",)
    if error == "Operation not permitted":
        return _cause(
            "device-cgroup-denied", f"the container's device cgroup does not allow {dev.path}",
            "EPERM on open means the device cgroup does not list this device: it was not "
            "passed with --device (a bind mount of /dev is not enough), or an outer container "
            "denies it.", f"Pass it with `--device={dev.host_path}`.", checks_dev)
    if error in ("No such device or address", "No such device"):
        return _cause(
            "device-driver-missing", f"no driver answers behind {dev.path} "
            f"({seen.major}:{seen.minor})",
            "The node exists but the kernel has no driver bound to that device number: the GPU "
            "driver is not loaded or the GPU is gone.",
            "Look at `lsmod | grep -E 'amdgpu|nvidia'` and `dmesg` on the host.",
            ("kernel.driver", "devices.nodes"))
    if error == "Permission denied" and not root and seen.gid is not None:
        mode = seen.mode or 0
        held = seen.gid in output.gids
        if not held and mode & 0o006 != 0o006:
            gid = seen.gid
            return _cause(
                "group-not-held", f"{output.user} in the container does not hold GID {gid}, "
                f"which owns {dev.path}",
                f"{dev.path} has mode {mode:04o} and group {gid} (Docker copies the host's "
                "numeric owner). Root in the container opens it anyway, so this shows only "
                "for a non-root container user, such as ROCm images' own users. A group name "
                "would be resolved in the image's /etc/group instead (ROCm images make `render` "
                "GID 109), so only the numeric GID works everywhere.",
                f"Add `--group-add={gid}` to the docker run arguments (compose: "
                f"`group_add: ['{gid}']`); `gpudoctor devices` prints the GIDs of every node.",
                ("groups.render",))
        if held and mode & 0o060 != 0o060:
            return _cause(
                "group-mode", f"{dev.path} has mode {mode:04o}: its group {seen.gid} cannot "
                "read and write it",
                "The udev rule that gives render nodes and /dev/kfd mode 0660 to the render "
                "group did not apply.",
                "Restore it (`SUBSYSTEM==\"kfd\", GROUP=\"render\", MODE=\"0660\"` and the same "
                "for renderD*) and run `sudo udevadm trigger`.", ("groups.render",
                                                                  "devices.nodes"))
    if error == "Permission denied":
        return _cause(
            "device-access-denied", f"access to {dev.path} is denied as {output.user} although "
            "its mode and groups allow it",
            "Root or the owning group is still refused: SELinux labels (container_use_devices), "
            "AppArmor, or a user-namespace-remapped daemon.",
            "On SELinux hosts: `sudo setsebool -P container_use_devices=1` or "
            "`--security-opt=label=disable`; for userns-remap daemons the device owner must map "
            "into the container.", ("devices.nodes",))
    return _cause("device-open-failed", f"opening {dev.path} failed: {seen.error}",
                  checks=checks_dev)


def _groups_item(output: ProbeOutput, expect: Expectations, run_args: RunArgs) -> Item:
    missing = [g for g in expect.group_ids if g not in output.gids]
    evidence = [f"id -G as {output.user}: {' '.join(map(str, output.gids))}",
                f"--group-add: {' '.join(run_args.group_add)}"]
    if missing:
        return Item("groups", "fail", f"{output.user} does not hold the added group(s) "
                    f"{' '.join(map(str, missing))}", user=output.user, evidence=evidence,
                    cause=_cause("group-add-lost", "the added groups did not reach the "
                                 "container's user", remedy="Check `--group-add` and the "
                                 "daemon's userns-remap setting.", checks=("groups.render",)))
    names = [g for g in run_args.group_add if not g.isdigit()]
    if names:
        return Item("groups", "warn", f"group(s) given by name ({', '.join(names)}) resolve in "
                    "the image's /etc/group, not the host's", user=output.user,
                    evidence=evidence, cause=_cause(
                        "group-by-name", "a group was added by name",
                        "Images define their own groups (ROCm images make render 109), so a "
                        "name can map to another GID than the host's.",
                        "Use the numeric GID: `--group-add=$(stat -c %g /dev/kfd)`.",
                        ("groups.render",)))
    return Item("groups", "pass", f"{output.user} holds {' '.join(map(str, output.gids))}",
                user=output.user, evidence=evidence)


def _rocm_item(root: ProbeOutput, expect: Expectations) -> Item | None:
    if "/dev/kfd" not in [d.path for d in expect.devices]:
        return None
    renders = [path for path, _, _ in root.dri if path.rsplit("/", 1)[-1].startswith("renderD")]
    if renders:
        return Item("rocm", "pass", f"/dev/kfd and {len(renders)} render node(s) are there: "
                    + ", ".join(renders), target="/dev/kfd")
    return Item("rocm", "fail", "/dev/kfd is there but no /dev/dri/renderD* node: ROCm will see "
                "no GPU", target="/dev/kfd", cause=_cause(
                    "rocm-render-missing", "no render node beside /dev/kfd",
                    "ROCm opens /dev/dri/renderD<minor> for every GPU it finds through "
                    "/dev/kfd and silently skips a GPU whose render node is absent.",
                    "Also pass the selected GPUs' render nodes, e.g. "
                    "`--device=/dev/dri/renderD128` (`gpudoctor devices` prints them).",
                    ("devices.nodes",)))


def _integrated_item(root: ProbeOutput, expect: Expectations) -> Item | None:
    if not expect.forbidden:
        return None
    by_number = {(f.major, f.minor): f for f in expect.forbidden}
    leaked = [(path, by_number[(major, minor)]) for path, major, minor in root.dri
              if (major, minor) in by_number]
    if not leaked:
        return Item("integrated", "pass", "no integrated GPU's render node is in the container",
                    evidence=[f"left out: {f.label} ({f.path})" for f in expect.forbidden])
    names = ", ".join(f"{path} ({node.label})" for path, node in leaked)
    return Item("integrated", "fail", f"an integrated GPU leaked into the container: {names}",
                evidence=[f"{path} is {node.major}:{node.minor}, the render node {node.path} of "
                          f"{node.pci}" for path, node in leaked],
                cause=_cause(
                    "integrated-gpu-leaked", "the integrated GPU is visible in the container",
                    "ROCm enumerates every render node it can open; beside a discrete card an "
                    "integrated GPU makes frameworks pick it or crash (`HIP error: invalid "
                    "device function`). Passing /dev/dri whole or --privileged passes it.",
                    "Pass only the selected GPUs' render nodes (`gpudoctor devices` prints "
                    "them) instead of /dev/dri, or add --include-integrated if you want it.",
                    ("gpu.present", "devices.nodes")))


def _smi_item(output: ProbeOutput, expect: Expectations, expected: bool) -> Item:
    user = output.user
    text = "\n".join(output.smi_lines)
    evidence = [f"nvidia-smi -L as {user}: exit {output.smi_state}", *output.smi_lines[:16]]
    if output.nvidia_nodes:
        evidence.append("NVIDIA device files: " + " ".join(output.nvidia_nodes))
    evidence.append(f"NVIDIA_VISIBLE_DEVICES={output.nvidia_env or 'unset'}")
    if output.smi_state == "absent":
        return Item("nvidia-smi", "fail", "nvidia-smi is not in the container: the toolkit did "
                    "not inject the driver", user=user, evidence=evidence, cause=_cause(
                        "driver-not-injected", "the NVIDIA driver was not injected",
                        "nvidia-container-toolkit mounts the host driver's nvidia-smi and "
                        "libraries into any image when it handles the container; here nothing "
                        "was mounted, so the toolkit did not act on this container.",
                        "Check `docker info` for the nvidia runtime and that --gpus or "
                        "--runtime=nvidia is used; run `gpudoctor check` for the toolkit.",
                        ("nvidia.toolkit", "docker.nvidia_runtime")))
    gpus = [line for line in output.smi_lines if re.match(r"GPU \d+:", line)]
    if output.smi_state == "0" and gpus:
        want = expect.nvidia_count
        if want is not None and len(gpus) < want:
            return Item("nvidia-smi", "warn", f"nvidia-smi lists {len(gpus)} GPU(s), {want} "
                        "expected", user=user, evidence=evidence)
        return Item("nvidia-smi", "pass", f"nvidia-smi lists {len(gpus)} GPU(s) as {user}",
                    user=user, evidence=evidence)
    if output.smi_state in ("124", "143", "137"):
        return Item("nvidia-smi", "fail", f"nvidia-smi -L did not finish within {SMI_TIMEOUT_S} "
                    f"s as {user}: the GPU or its driver hangs", user=user, evidence=evidence,
                    cause=_cause("nvidia-smi-hung", "nvidia-smi hangs",
                                 "A GPU that fell off the bus or a wedged driver makes every "
                                 "NVML call block.", "Look at `dmesg | grep -i xid` and "
                                 "`nvidia-smi` on the host; a reboot usually clears it.",
                                 ("kernel.driver",)))
    if output.smi_state == "127":
        return Item("nvidia-smi", "fail", f"nvidia-smi is in the image at {output.smi_path} but "
                    "cannot run: the image has no glibc (busybox, alpine)", user=user,
                    evidence=evidence, cause=_cause(
                        "image-without-glibc", "the injected nvidia-smi cannot run in this image",
                        "The toolkit injects the host driver's nvidia-smi, linked against "
                        "glibc; busybox and alpine images do not have it.",
                        "Verify with a glibc image: `gpudoctor verify --image ubuntu`."))
    cause = map_error(text)
    status = "fail" if expected else "warn"
    return Item("nvidia-smi", status, f"nvidia-smi -L failed as {user}: "
                f"{(output.smi_lines or ['no output'])[-1]}", user=user, evidence=evidence,
                cause=cause)


# =================================================================================================
# docker.smoke
# =================================================================================================
SMOKE_BUDGET_S = 100.0


def smoke_result(facts: Facts) -> Result:
    """The docker.smoke check: the same verification with the report's arguments."""
    from gpudoctor.plugin import Result

    daemon = facts.docker
    if not daemon.reachable:
        return Result.skip("the Docker daemon does not answer, so no container can be started "
                           "(see docker.daemon)")
    try:
        args = list(facts.docker_run_args)
    except (HostError, UserError) as exc:
        return Result.skip(f"the docker run arguments could not be computed: {exc}")
    if not args:
        return Result.skip("no GPU is selected, so there are no arguments to start a container "
                           "with (see gpu.present)")
    request = VerifyRequest(args=None, image=facts.options.image, budget=SMOKE_BUDGET_S)
    try:
        verified = run_verification(facts, request)
    except UserError as exc:
        return Result.error(f"docker.smoke could not run: {exc}")
    return as_check_result(verified)


def as_check_result(verified: VerifyResult) -> Result:
    from gpudoctor.plugin import Result, Status

    evidence = [f"{'docker' if verified.method == 'docker' else 'compose'} on "
                f"{verified.endpoint} with {verified.image or 'no image'}: "
                + " ".join(verified.args)]
    evidence += [f"[{i.status}] {i.summary}" for i in verified.items]
    if verified.error:
        evidence.append(f"daemon: {verified.error}")
    cause = verified.cause
    details = ("gpudoctor started a short-lived container with the report's docker_run_args "
               "and checked from inside it that each device opens read-write as root and as a "
               "non-root user holding the added groups, and for NVIDIA that nvidia-smi lists "
               "the GPUs.")
    if cause is not None and cause.details:
        details += " " + cause.details
    status = {"pass": Status.PASS, "warn": Status.WARN, "fail": Status.FAIL}.get(
        verified.verdict, Status.WARN)
    return Result(status, verified.summary or "verification did not run", details=details,
                  evidence=evidence, remedy=cause.remedy if cause else "",
                  fixes=list(cause.fixes) if cause else [],
                  data={"verify": verified.to_json()})
