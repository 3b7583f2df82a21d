"""Causes: the daemon's and the container's error texts, mapped to what to do (ERROR_RULES).

Over 500 lines on purpose: most of it is the table itself (one row per known error text, with
its source), which reads best whole; the code around it is about 100 lines.
"""

from __future__ import annotations

import re
from string import Template

from gpudoctor import TYPE_CHECKING
from gpudoctor.errors import DockerUnavailable, HostError
from gpudoctor.record import record, replace

if TYPE_CHECKING:
    from typing import Any

    from gpudoctor.facts import Facts


@record(frozen=True)
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
    #: The values the pattern picked out of the text (device, runtime, driver...).
    values: tuple[tuple[str, str], ...] = ()
    #: The GPU vendor whose stack prints this error ("" for any).
    vendor: str = ""

    def value(self, name: str) -> str | None:
        return dict(self.values).get(name)

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "summary": self.summary, "details": self.details,
                "remedy": self.remedy, "checks": list(self.checks), "fixes": list(self.fixes),
                "matched": self.matched}


@record(frozen=True)
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
    #: Where the error text comes from (the tool's source, its documentation, a tracker issue).
    source: str = ""
    #: The GPU vendor whose stack prints it ("nvidia", "amd", "intel"; "" for any): on a host
    #: without such a GPU the cause is ruled out, whatever else fails there.
    vendor: str = ""

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
                    fixes=self.fixes, matched=line, values=tuple(sorted(values.items())),
                    vendor=self.vendor)
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
        ("nvidia.toolkit", "docker.nvidia_runtime"), ("nvidia.install_toolkit", "docker.reload"),
        source="moby daemon/errors.go; nvidia-container-stack.md §4 row 1",
        vendor="nvidia"),
    ErrorRule(
        "nvidia-driver-not-registered",
        (r'could not select device driver "(?P<driver>nvidia(?:\.[a-z-]+)?)" with '
         r'capabilities: \[\[[^\]]*\]\]',),
        "Docker has no `$driver` device driver (compose's `driver: nvidia`): "
        "nvidia-container-runtime-hook was not on dockerd's PATH when dockerd started",
        _HOOK_DETAILS + " This is the error of the NVIDIA field guide's `docker compose up`.",
        _HOOK_REMEDY,
        ("nvidia.toolkit", "docker.nvidia_runtime"), ("nvidia.install_toolkit", "docker.reload"),
        source="nvidia-container-stack.md §4 row 2; the NVIDIA field guide",
        vendor="nvidia"),
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
        ("docker.cdi",), ("docker.reload",),
        source="nvidia-container-stack.md §4 row 3 (NVIDIA/nvidia-container-toolkit#434)"),
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
        "specs with `grep -R <old driver version> /etc/cdi /var/run/cdi` (`sudo gpudoctor fix "
        "nvidia.cdi_regenerate` shows the new spec's difference and writes it).",
        ("docker.cdi", "nvidia.cdi_mode"), ("nvidia.cdi_regenerate",),
        source="nvidia-container-stack.md §4 (a CDI spec left from an older driver)"),
    ErrorRule(
        "cdi-unresolvable",
        (r'unresolvable CDI devices? (?P<device>[^\s",]+)',
         r'CDI device (?P<device>[^\s",]+) not found', r"(?i)CDI device[s]? not found"),
        "no CDI spec offers $device",
        "dockerd looked for $device in its CDI spec folders (/etc/cdi and /var/run/cdi unless "
        "`cdi-spec-dirs` says otherwise) and no spec defines it: it was never generated, "
        "nvidia-cdi-refresh is disabled, a rootless daemon cannot read the folders, or the spec "
        "is version 0.7.0 (toolkit 1.19.1 and later) and this Docker is older than 26.1.",
        "Generate it: `sudo nvidia-ctk cdi generate --output=/var/run/cdi/nvidia.yaml` (or "
        "`sudo systemctl restart nvidia-cdi-refresh.service`), then check `nvidia-ctk cdi list`.",
        ("docker.cdi", "nvidia.cdi_mode", "nvidia.toolkit"), ("nvidia.cdi_regenerate",),
        source="container-device-interface pkg/cdi; nvidia-container-stack.md §4"),
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
        ("docker.configure_nvidia_runtime", "docker.reload"),
        source="moby daemon runtimes; printed by the test suite's dockerd 20.10"),
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
        ("nvidia.toolkit", "docker.nvidia_runtime"), ("nvidia.install_toolkit", "docker.reload"),
        source="containerd shim exec error; nvidia-container-stack.md §4"),
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
        ("devices.nodes", "kernel.driver"), (),
        source="moby oci/devices_linux.go; amd-container-stack.md §7 row 14"),
    ErrorRule(
        "device-not-a-node",
        (r'error gathering device information while adding custom device "(?P<device>[^"]+)": '
         r"not a device node",),
        "$device is not a device node",
        "`--device` takes device files (character or block nodes) or a folder of them; "
        "$device is neither.",
        "Pass the device file itself, for example `--device=/dev/dri/renderD128`; "
        "`gpudoctor devices` prints the right ones.",
        (), (),
        source="moby oci/devices_linux.go; printed by the test suite's dockerd 20.10"),
    ErrorRule(
        "device-path-with-colon",
        (r"bad mode specified: (?P<rest>\S+)",),
        "docker rejected a --device path that contains a colon",
        "`docker run --device` splits its value at ':' into host path, container path and "
        "permissions, so a /dev/dri/by-path/pci-0000:07:00.0-render name cannot be passed as "
        "it is (docker read `$rest` as the permissions).",
        "Pass the resolved node, e.g. `--device=$(readlink -f "
        "/dev/dri/by-path/pci-0000:07:00.0-render)`, as `gpudoctor devices` prints it.",
        (), (),
        source="docker CLI device parsing; printed by the test suite's docker 20.10"),
    ErrorRule(
        "group-unknown-in-image",
        (r"[Uu]nable to find group (?P<group>[^\s:]+)",),
        "the image has no group named `$group`",
        "A group given by name (`--group-add`, compose's `group_add`, or `user: name:group`) is "
        "looked up in the image's /etc/group, not the host's, and images define their own "
        "groups (AMD's ROCm images make `render` GID 109, rarely the host's render GID).",
        "Give the numeric GID that owns the device on the host, e.g. "
        "`--group-add=$(stat -c %g /dev/kfd)`; in compose, quoted: `group_add: ['993']`.",
        (), (),
        source="runc libcontainer/user; amd-container-stack.md §5.1"),
    ErrorRule(
        "compose-group-add-int",
        (r"'group_add\[\d+\]' expected type 'string', got unconvertible type 'int'",),
        "Compose v2 needs the GIDs in group_add quoted",
        "Compose v2 reads group_add entries as strings and rejects a YAML number such as 993.",
        "Quote each GID: `group_add: ['993']`.",
        (), (),
        source="docker/compose#9968, jellyfin/jellyfin#7676; amd-container-stack.md §5.1"),
    ErrorRule(
        "nvml-library-missing",
        (r"load library failed: libnvidia-ml\.so\.1",),
        "the toolkit cannot load the NVIDIA driver's libnvidia-ml.so.1 on the host",
        "nvidia-container-cli asks NVML, from the host's driver, which GPUs exist. The driver's "
        "user-space libraries are not installed, not in the ld.so cache, or (WSL) the Windows "
        "driver is missing.",
        "Install the NVIDIA driver (your distribution's nvidia-driver package, or "
        "`sudo ubuntu-drivers install`), then check `ldconfig -p | grep libnvidia-ml`.",
        ("kernel.driver", "nvidia.toolkit"), (),
        source="libnvidia-container driver initialisation; nvidia-container-stack.md §4",
        vendor="nvidia"),
    ErrorRule(
        "nvml-version-mismatch",
        (r"[Dd]river/library version mismatch",),
        "the loaded nvidia kernel module and the driver's libraries are different versions",
        "Usually the driver was upgraded while the old module stays loaded; NVML refuses to "
        "work until they match (dmesg: `NVRM: API mismatch`).",
        "Reboot (or unload and reload the nvidia modules); compare "
        "`cat /sys/module/nvidia/version` with the version in libnvidia-ml.so's name. A CDI "
        "spec generated for the old driver gives containers its libraries too: regenerate it.",
        ("nvidia.driver_mismatch", "kernel.driver", "docker.cdi"), ("nvidia.cdi_regenerate",),
        source="NVML (NVML_ERROR_LIB_RM_VERSION_MISMATCH); failure-classes.md",
        vendor="nvidia"),
    ErrorRule(
        "nvml-driver-not-loaded",
        (r"nvml error: driver not loaded",),
        "the nvidia kernel module is not loaded on the host",
        "Secure Boot rejected the unsigned module (`Key was rejected by service`), nouveau or "
        "nova_core holds the GPU, or the DKMS build failed for the running kernel.",
        "Look at `mokutil --sb-state`, `lsmod | grep -E 'nvidia|nouveau'` and `lspci -k`; "
        "blacklist nouveau or enroll the module's key, then `sudo modprobe nvidia`.",
        ("kernel.driver",), (),
        source="libnvidia-container nvml error; nvidia-container-stack.md §4",
        vendor="nvidia"),
    ErrorRule(
        "nvml-insufficient-permissions",
        (r"nvml error: insufficient permissions", r"Failed to initialize NVML: Insufficient "
                                                  r"Permissions"),
        "NVML may not open the /dev/nvidia* devices",
        "Their modes or group were changed (VirtualGL setups do this), or SELinux labels deny "
        "containers the devices.",
        "Compare `ls -l /dev/nvidia*` (normally crw-rw-rw-); on SELinux hosts run with "
        "`--security-opt=label=disable` or `sudo setsebool -P container_use_devices=1`.",
        ("devices.nodes",), (),
        source="NVML (NVML_ERROR_NO_PERMISSION); nvidia-container-stack.md §4",
        vendor="nvidia"),
    ErrorRule(
        "nvml-unknown-error",
        (r"Failed to initialize NVML: Unknown Error",),
        "the container lost its access to the GPU device files",
        "With hook-based injection and the systemd cgroup driver, `systemctl daemon-reload` or "
        "a container update rewrites the device cgroup and drops the GPUs from running "
        "containers (the device files have no /dev/char links, toolkit#48). Under a rootful "
        "daemon, `no-cgroups = true` in the toolkit's config.toml gives the same error from "
        "the start.",
        "Recreate the container. To prevent it: `\"exec-opts\": "
        "[\"native.cgroupdriver=cgroupfs\"]` in daemon.json (then restart Docker), CDI "
        "(`--device nvidia.com/gpu=all`), or `sudo nvidia-ctk system create-dev-char-symlinks "
        "--create-all` with a udev rule (`sudo gpudoctor fix nvidia.dev_char_links`).",
        ("nvidia.cgroup_devices", "nvidia.toolkit_config"),
        ("nvidia.dev_char_links",),
        source="NVIDIA/nvidia-container-toolkit#48; failure-classes.md",
        vendor="nvidia"),
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
        ("docker.daemon", "nvidia.toolkit"), ("nvidia.rootless_no_cgroups",),
        source="libnvidia-container device cgroup (bpf); nvidia-container-stack.md §4",
        vendor="nvidia"),
    ErrorRule(
        "cuda-requirement",
        (r"requirement error: unsatisfied condition: (?P<condition>[^,\s]+)",),
        "the image needs $condition, newer than the host's NVIDIA driver supports",
        "CUDA images declare the CUDA version they need (NVIDIA_REQUIRE_CUDA) and the toolkit "
        "refuses to start them on an older driver.",
        "Upgrade the NVIDIA driver, use an image built for an older CUDA, or run with "
        "`-e NVIDIA_DISABLE_REQUIRE=true` only as a last resort, if you know the image works.",
        ("nvidia.cuda_requirement", "kernel.driver"), (),
        source="libnvidia-container requirement check (NVIDIA_REQUIRE_CUDA); failure-classes.md",
        vendor="nvidia"),
    ErrorRule(
        "wsl-no-adapters",
        (r"WSL environment detected but no adapters were found",),
        "WSL has no GPU adapter",
        "WSL 1, no NVIDIA GPU, or a missing or old Windows driver (no /dev/dxg).",
        "Use WSL 2 with a current Windows NVIDIA driver (`wsl --update`).",
        ("nvidia.wsl", "gpu.present"), (),
        source="libnvidia-container WSL support; nvidia-container-stack.md §4",
        vendor="nvidia"),
    ErrorRule(
        "ldconfig-path",
        (r"ldcache error: open failed: (?P<path>\S+)", r"ldconfig\.real[^\n]*failed"),
        "the toolkit's ldconfig path does not exist on this distribution",
        "config.toml's `ldconfig` names a program this distribution does not have "
        "(`@/sbin/ldconfig.real` exists only on Debian and Ubuntu).",
        'Set `ldconfig = "@/sbin/ldconfig"` in /etc/nvidia-container-runtime/config.toml '
        "(`sudo nvidia-ctk config --in-place --set "
        "nvidia-container-cli.ldconfig=@/sbin/ldconfig`).",
        ("nvidia.toolkit_config",), (),
        source="libnvidia-container ldcache; failure-classes.md",
        vendor="nvidia"),
    ErrorRule(
        "hook-mode-not-legacy",
        (r"invoking the NVIDIA Container Runtime Hook directly",),
        "the toolkit runs in CDI/CSV mode, where `--gpus` (the hook) is refused",
        "config.toml sets `mode = \"cdi\"` or `\"csv\"` (Tegra auto-detects csv), and in that "
        "mode only the nvidia runtime may inject GPUs.",
        "Add `--runtime=nvidia`, or set `mode = \"auto\"` under [nvidia-container-runtime] in "
        "/etc/nvidia-container-runtime/config.toml, or give GPUs through CDI "
        "(`--device=nvidia.com/gpu=all`).",
        ("nvidia.toolkit_config", "nvidia.cdi_mode", "docker.nvidia_runtime"), (),
        source="nvidia-container-toolkit nvidia-container-runtime-hook; failure-classes.md",
        vendor="nvidia"),
    ErrorRule(
        "driver-libs-in-image",
        (r"file creation failed: \S*libnvidia-ml\.so\.1: file exists",),
        "the image ships NVIDIA driver libraries that collide with the injected ones",
        "The toolkit mounts the host driver's libraries into the container; an image that "
        "already has them makes the mount fail.",
        "Use an image without driver libraries (CUDA base images have none).",
        (), (),
        source="libnvidia-container mount error; nvidia-container-stack.md §4",
        vendor="nvidia"),
    ErrorRule(
        "imex-channel",
        (r"unsupported IMEX channel value",),
        "nvidia-container-toolkit 1.17.0 rejects NVIDIA_IMEX_CHANNELS=all",
        "A regression of toolkit 1.17.0.",
        "Upgrade the toolkit (`sudo gpudoctor fix nvidia.install_toolkit`).",
        ("nvidia.toolkit",), ("nvidia.install_toolkit",),
        source="nvidia-container-toolkit IMEX channel handling; nvidia-container-stack.md §4",
        vendor="nvidia"),
    ErrorRule(
        "kfd-permission-denied",
        (r"/dev/kfd[^\n]*Permission denied",),
        "the container's user may not open /dev/kfd",
        "ROCm opens /dev/kfd read-write. A non-root user in the container needs the numeric GID "
        "that owns /dev/kfd on the host (Docker copies the host's owner); a group name resolves "
        "in the image instead (ROCm images make `render` GID 109).",
        "Add `--group-add=$(stat -c %g /dev/kfd)` and the GID of each render node "
        "(`gpudoctor devices` prints them), or run the container as root.",
        ("groups.render",), (),
        source="amd-container-stack.md §7 row 1 (ROCm/ROCm-docker#116)",
        vendor="amd"),
    ErrorRule(
        "kfd-not-permitted",
        (r"/dev/kfd[^\n]*Operation not permitted",),
        "the container's device cgroup does not allow /dev/kfd",
        "EPERM on open means the device cgroup does not list the device: it was not passed "
        "with `--device` (a bind mount of /dev is not enough), or an outer container (LXC, "
        "Proxmox) denies it.",
        "Pass it with `--device=/dev/kfd`; in LXC allow it in the container's config "
        "(`lxc.cgroup2.devices.allow`).",
        ("devices.nodes",), (),
        source="amd-container-stack.md §7 row 2 (ollama/ollama#2637)",
        vendor="amd"),
    ErrorRule(
        "no-gpu-visible",
        (r"No devices were found",),
        "nvidia-smi ran but sees no GPU",
        "NVIDIA_VISIBLE_DEVICES is void or none, or names no GPU, or the driver sees none (a GPU "
        "that fell off the bus: the host's `nvidia-smi` says the same).",
        "Request the GPUs (`--gpus=all`), and look at `nvidia-smi -L` and "
        "`dmesg | grep -i xid` on the host.",
        ("kernel.driver", "gpu.present"), (),
        source="nvidia-smi when it finds no GPU"),
    ErrorRule(
        "nvidia-container-cli",
        (r"nvidia-container-cli: (?P<message>[^\n]+)",),
        "the toolkit's nvidia-container-cli failed: $message",
        "nvidia-container-cli prepares the container's GPUs (devices, driver files, cgroups) "
        "before it starts; this step failed.",
        "Run `sudo nvidia-container-cli -k -d /dev/tty info` on the host to see the failing "
        "step.",
        ("nvidia.toolkit", "kernel.driver"), (),
        source="libnvidia-container: every nvidia-container-cli error has this prefix",
        vendor="nvidia"),
    ErrorRule(
        "image-no-shell",
        (r'"/bin/sh": stat /bin/sh: no such file or directory',
         r'exec: "/bin/sh": no such file or directory'),
        "the image has no /bin/sh, which the verify probe needs",
        "gpudoctor looks inside the container with a small POSIX shell script.",
        "Choose an image with a shell: `--image busybox` (or `--image ubuntu` for NVIDIA).",
        (), (),
        source="runc exec; printed by the test suite's dockerd 20.10"),
    ErrorRule(
        "image-missing",
        (r"No such image: (?P<image>\S+)", r"Unable to find image '(?P<image>[^']+)'",
         r"pull access denied for (?P<image>[^,\s]+)"),
        "the image $image is not available",
        "verify never pulls unless asked.",
        "Pull it (`docker pull $image`) or run `gpudoctor verify --pull`.",
        (), (),
        source="docker CLI and Engine API"),
    ErrorRule(
        "daemon-permission",
        (r"permission denied while trying to connect to the Docker daemon socket",
         r"permission denied while connecting to"),
        "this user may not use the Docker socket",
        "The socket belongs to root and the `docker` group.",
        "`sudo usermod -aG docker $USER` and log in again, or run gpudoctor with sudo.",
        ("docker.daemon",), (),
        source="docker CLI client connecting to the socket"),
    ErrorRule(
        "daemon-unreachable",
        (r"Cannot connect to the Docker daemon", r"no Docker socket at",
         r"connection refused on", r"[Ii]s the docker daemon running"),
        "no Docker daemon answers",
        "The docker CLI and gpudoctor talk to the daemon DOCKER_HOST, the current docker context "
        "or /var/run/docker.sock names, and nothing answers there.",
        "Start it (`sudo systemctl start docker`), and check `echo $DOCKER_HOST` and "
        "`docker context ls`.",
        ("docker.daemon",), (),
        source="docker CLI client connecting to the socket"),
    ErrorRule(
        "hip-no-binary",
        (r"hipErrorNoBinaryForGpu[^\n]*", r"HIP error: invalid device function"),
        "the image's HIP code has no kernels for this GPU's gfx target",
        "ROCm libraries and applications ship code objects for a list of gfx targets. A card "
        "outside that list (many consumer RDNA2/RDNA3 parts), or an integrated GPU that the "
        "container got beside the card, has none: HIP fails with `hipErrorNoBinaryForGpu` or "
        "`invalid device function` at the first kernel launch.",
        "Give the container only the discrete GPU (`gpudoctor devices` prints the arguments); "
        "for a consumer card outside ROCm's list, the community override "
        "`-e HSA_OVERRIDE_GFX_VERSION=...` (10.3.0 for RDNA2, 11.0.0 for RDNA3) may work: "
        "`gpudoctor devices --hsa-override` prints it for this host's GPUs.",
        ("amd.gfx_target",), (),
        source="amd-container-stack.md §7 rows 5-6 (ROCm/legacy-rocm-build#4386, "
               "pytorch/pytorch#147626, l1na-forever/stable-diffusion-rocm-docker#1)",
        vendor="amd"),
    ErrorRule(
        "rocm-no-device",
        (r"hipErrorNoDevice", r"No HIP GPUs are available",
         r"no ROCm-capable device is detected", r"no compatible amdgpu devices detected",
         r"kfd driver not loaded"),
        "the ROCm runtime in the container found no usable AMD GPU",
        "HIP needs both /dev/kfd and the GPU's render node inside the container, readable by "
        "its user. Either one was not passed (`--device /dev/kfd --device /dev/dri/renderD*`), "
        "the user lacks the group that owns them, or amdgpu is not loaded on the host.",
        "Start it with the arguments `gpudoctor devices` prints (they include /dev/kfd, the "
        "render node and the numeric groups).",
        ("devices.nodes", "groups.render", "kernel.driver"), (),
        source="amd-container-stack.md §7 rows 4 and 8 (ggml-org/llama.cpp#20142, "
               "ollama/ollama#10421; ollama discover/amd_linux.go)",
        vendor="amd"),
    ErrorRule(
        "hsa-out-of-resources",
        (r"HSA_STATUS_ERROR_OUT_OF_RESOURCES",),
        "the HSA runtime could not open the GPU (usually a permission problem in the "
        "container)",
        "`hsa api call failure ... HSA_STATUS_ERROR_OUT_OF_RESOURCES` is what ROCm prints when "
        "it cannot use /dev/kfd or the render node: it works as root and fails as another user "
        "without the groups that own them, or no usable GPU node was passed.",
        "Pass the numeric groups that own /dev/kfd and the render node (`--group-add=GID`, "
        "printed by `gpudoctor devices`), or run the container as root.",
        ("groups.render", "devices.nodes"), ("groups.add_user_render",),
        source="amd-container-stack.md §7 row 3 (ROCm/legacy-rocm-build#1080, #1088, #4382; "
               "ROCm/rocminfo#34)",
        vendor="amd"),
    ErrorRule(
        "render-node-permission",
        (r"(?P<device>/dev/dri/renderD\d+)[^\n]*[Pp]ermission denied",
         r"[Pp]ermission denied[^\n]*(?P<device>/dev/dri/renderD\d+)"),
        "the container's user may not open $device",
        "Render nodes are usually mode 0660, owned by root and a `render` group whose number "
        "differs between the host and the image; a non-root container user needs that numeric "
        "GID (`--group-add`).",
        "Add the GID that owns $device on the host: `stat -c %g $device`, then "
        "`--group-add=<that number>` (compose: quoted, in group_add).",
        ("groups.render",), ("groups.add_user_render",),
        source="amd-container-stack.md §5.1 (docker/compose#7277, #9968); Intel compute-runtime "
               "docs (render group)"),
    ErrorRule(
        "level-zero-no-device",
        (r"ZE_RESULT_ERROR_UNINITIALIZED", r"zeInit\S* failed",
         r"No device of requested type available"),
        "Level Zero (Intel GPU compute) found no usable GPU in the container",
        "Intel's compute runtime opens the GPU through its render node; it reports "
        "`ZE_RESULT_ERROR_UNINITIALIZED` (SYCL: `No device of requested type available`) when "
        "the node was not passed, its user lacks the render group, or i915/xe does not drive "
        "the GPU on the host. The image's own compute-runtime cannot be judged from the host.",
        "Pass the render node and its numeric group (`gpudoctor devices` prints them).",
        ("devices.nodes", "groups.render", "kernel.driver"), (),
        source="oneAPI Level Zero spec (ze_result_t); intel/compute-runtime FAQ",
        vendor="intel"),
    ErrorRule(
        "cuda-driver-too-old",
        (r"CUDA driver version is insufficient for CUDA runtime version",
         r"cudaErrorInsufficientDriver"),
        "the image's CUDA runtime is newer than the host driver supports",
        "Each driver branch supports CUDA up to one version; an image built for a newer CUDA "
        "fails at its first CUDA call (or, with NVIDIA_REQUIRE_CUDA set, at start with "
        "`unsatisfied condition`).",
        "Install a newer NVIDIA driver on the host, or use an image tag for an older CUDA.",
        (), (),
        source="CUDA Runtime API, cudaErrorInsufficientDriver (error 35)",
        vendor="nvidia"),
    ErrorRule(
        "cuda-no-device",
        (r"no CUDA-capable device is detected", r"cudaErrorNoDevice", r"CUDA_ERROR_NO_DEVICE"),
        "CUDA in the container found no GPU",
        "CUDA needs the GPU's /dev/nvidia* nodes, /dev/nvidiactl and /dev/nvidia-uvm in the "
        "container: no GPU was requested (`--gpus`), the nvidia_uvm module is not loaded on the "
        "host so /dev/nvidia-uvm is missing, or NVIDIA_VISIBLE_DEVICES names no GPU.",
        "Start the container with `--gpus=all` (compose: a device reservation); on the host, "
        "`sudo modprobe nvidia_uvm` if /dev/nvidia-uvm is missing.",
        ("devices.nodes", "nvidia.uvm", "kernel.driver"), ("nvidia.load_uvm",),
        source="CUDA Runtime API, cudaErrorNoDevice (error 100)",
        vendor="nvidia"),
    ErrorRule(
        "cuda-system-not-ready",
        (r"system not yet initialized", r"cudaErrorSystemNotReady", r"CUDA_ERROR_SYSTEM_NOT_READY",
         r"CUDA error 802"),
        "CUDA reports the system not ready (error 802): on NVSwitch systems, Fabric Manager is "
        "not running",
        "HGX and DGX machines route GPU-to-GPU traffic through NVSwitches that "
        "nvidia-fabricmanager sets up; until it runs, at the driver's exact version, CUDA fails "
        "with error 802 `system not yet initialized`.",
        "`sudo systemctl enable --now nvidia-fabricmanager` (its version must equal the "
        "driver's).",
        ("nvidia.fabric_manager",), (),
        source="failure-classes.md (pytorch/pytorch#35710); CUDA Runtime API error 802",
        vendor="nvidia"),
    ErrorRule(
        "compose-v1-gpus",
        (r"Unsupported config option for services\.(?P<service>[\w.-]+): 'gpus'",),
        "docker-compose v1 does not know the service key `gpus` (service $service)",
        "`gpus:` is Compose v2 syntax. docker-compose 1.x stops before starting anything.",
        "Use `deploy.resources.reservations.devices` (`gpudoctor compose FILE` prints the "
        "corrected file), or run `docker compose` (v2).",
        (), (),
        source="docker/compose 1.29 config validation (Unsupported config option)"),
    ErrorRule(
        "compose-capabilities-required",
        (r"capabilities is required", r"'capabilities' is a required property"),
        "a compose device reservation lacks `capabilities`",
        "Compose requires `capabilities` on each `deploy.resources.reservations.devices` entry; "
        "`[gpu]` asks for GPUs.",
        "Add `capabilities: [gpu]` (`gpudoctor compose FILE` shows the corrected file).",
        (), (),
        source="compose-spec deploy.md (devices: capabilities required)"),
    ErrorRule(
        "gpus-flag-unknown",
        (r"unknown flag: --gpus",),
        "this docker client is older than 19.03 and has no --gpus",
        "`--gpus` arrived in Docker 19.03.",
        "Upgrade Docker, or use `--runtime=nvidia -e NVIDIA_VISIBLE_DEVICES=all`.",
        (), (),
        source="docker CLI before 19.03 (--gpus arrived in 19.03)"),
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
    return refine_cause(cause, facts)


def refine_cause(cause: Cause, facts: Facts) -> Cause:
    """A cause from the table, sharpened with what this host's facts say (which fix applies)."""
    try:
        if cause.id in ("gpus-driver-not-registered", "nvidia-driver-not-registered"):
            return _refine_hook(cause, facts)
        if cause.id == "runtime-unknown":
            return _refine_runtime(cause, facts)
        if cause.id == "cdi-unresolvable" and any(
                e.name == "podman" and e.in_use for e in facts.engines):
            return _refine_cdi_podman(cause, facts)
        if cause.id == "device-missing-on-host" and facts.docker.mode == "desktop":
            return replace(cause, summary=cause.summary + " (Docker Desktop: its engine runs "
                            "in a VM without the host's GPUs)", fixes=())
    except (HostError, DockerUnavailable):
        return cause
    return cause


def _refine_cdi_podman(cause: Cause, facts: Facts) -> Cause:
    """Podman resolves CDI names itself, from its own spec folders, with its own CDI version."""
    p = facts.podman
    details = (f"Podman {p.version or ''} looked in {', '.join(p.spec_dirs)} "
               f"({p.spec_dirs_source}) and no spec it can read defines the device: it was never "
               "generated, the spec is CDI 0.7.0 (toolkit 1.19.1 and later) and this Podman is "
               "older than 5.1, or rootless Podman cannot read the file.")
    return replace(cause, details=details, checks=("podman.cdi", "nvidia.toolkit"))


def _refine_hook(cause: Cause, facts: Facts) -> Cause:
    """Installed-but-not-restarted and not-installed need different fixes: look for the hook."""
    daemon = facts.docker
    if daemon.mode == "desktop":
        return replace(cause, remedy="Docker Desktop's engine runs in a VM that cannot get the "
                        "host's NVIDIA GPUs; install Docker Engine and nvidia-container-toolkit.",
                        fixes=())
    path_env = daemon.path_env
    on_daemon_path = facts.host.which("nvidia-container-runtime-hook", path_env) if path_env \
        else None
    on_host_path = facts.host.which("nvidia-container-runtime-hook")
    head = cause.summary.partition(": nvidia-container-runtime-hook")[0]
    if on_daemon_path:
        return replace(
            cause, summary=f"{head}: {on_daemon_path} is on dockerd's PATH now, but dockerd "
            "started before it was there",
            remedy="Restart Docker so that it registers the driver: `sudo systemctl restart "
                   "docker` (`sudo gpudoctor fix docker.reload` decides between reload and "
                   "restart; a reload is not enough here).",
            fixes=("docker.reload",))
    if on_host_path and path_env:
        return replace(
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
        return replace(
            cause, summary=cause.summary + f": {config.path} declares it, but the daemon has "
            "not loaded that file since",
            remedy="Reload Docker: `sudo systemctl reload docker` (or `sudo gpudoctor fix "
                   "docker.reload`), then check `docker info --format '{{json .Runtimes}}'`.",
            fixes=("docker.reload",))
    return replace(cause, summary=cause.summary + f" ({config.path} does not declare it)")


def _cause(cause_id: str, summary: str, details: str = "", remedy: str = "",
           checks: tuple[str, ...] = (), fixes: tuple[str, ...] = ()) -> Cause:
    return Cause(cause_id, summary, details, remedy, checks, fixes)
