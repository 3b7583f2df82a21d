"""The rules: each service's GPU parts judged against this host.

A finding says where (file, line, column), what was seen, why it breaks the container, and how
the file must change (edits applied by correct.py). Problems of the host rather than of the
file (no toolkit, a runtime not loaded) name the check and the fix that deal with them.

What a service's GPU parts are (the compose specification): `devices`, `group_add`,
`deploy.resources.reservations.devices` (driver, count, device_ids, capabilities), `gpus`
(Compose v2 only), `runtime`, and the NVIDIA_* / ROCR_* / HSA_* environment.

Over 500 lines on purpose: one ServiceJudge holds the rules for one service's GPU parts, which
read each other's conclusions (a `--gpus` reservation changes what `devices` must hold).
"""

from __future__ import annotations

import re

from gpudoctor import TYPE_CHECKING
from gpudoctor.compose.host import KFD, ComposeHost
from gpudoctor.compose.load import ComposeFile, key_position, position
from gpudoctor.plugin import Status
from gpudoctor.record import field, record

if TYPE_CHECKING:
    from typing import Any

_CDI_NAME = re.compile(r"^[a-z0-9][a-z0-9.-]*\.[a-z]+/[a-zA-Z0-9_.-]+=\S+$")
_BY_PATH = re.compile(r"/dev/dri/by-path/[^\s]*?-(?:render|card)")
NVIDIA_REQUEST = {"driver": "nvidia", "count": "all", "capabilities": ["gpu"]}


@record
class Edit:
    """One change to the compose tree: set parent[key], append to a list, or remove."""

    op: str  # "set", "append", "remove" (a list item equal to value), "delete" (a key)
    parent: Any
    key: Any = None
    value: Any = None


@record
class ComposeFinding:
    id: str
    status: Status
    service: str
    line: int
    column: int
    summary: str
    details: str
    remedy: str = ""
    edits: list[Edit] = field(default_factory=list)
    checks: tuple[str, ...] = ()
    fixes: tuple[str, ...] = ()

    def where(self, path: str) -> str:
        return f"{path}:{self.line}:{self.column}"

    def to_json(self, path: str) -> dict[str, Any]:
        return {"id": self.id, "status": self.status.value, "service": self.service,
                "file": path, "line": self.line, "column": self.column,
                "summary": self.summary, "details": self.details, "remedy": self.remedy,
                "corrected": bool(self.edits), "checks": list(self.checks),
                "fixes": list(self.fixes)}


def quoted(value: str) -> Any:
    """A string that YAML writes in single quotes: compose needs GIDs as strings."""
    from ruamel.yaml.scalarstring import SingleQuotedScalarString

    return SingleQuotedScalarString(value)


def new_map(items: dict[str, Any]) -> Any:
    from ruamel.yaml.comments import CommentedMap, CommentedSeq

    out = CommentedMap()
    for key, value in items.items():
        if isinstance(value, list):
            seq = CommentedSeq(value)
            seq.fa.set_flow_style()
            out[key] = seq
        else:
            out[key] = value
    return out


class ServiceJudge:
    """Judges one service; `findings` collects what it found."""

    def __init__(self, name: str, service: Any, host: ComposeHost):
        self.name = name
        self.service = service
        self.host = host
        self.findings: list[ComposeFinding] = []
        #: device files the service gets, resolved on this host, after corrections
        self.nodes: list[str] = []

    # ----- helpers --------------------------------------------------------------------------
    def add(self, fid: str, status: Status, at: tuple[int, int], summary: str, details: str,
            remedy: str = "", edits: list[Edit] | None = None, checks: tuple[str, ...] = (),
            fixes: tuple[str, ...] = ()) -> None:
        self.findings.append(ComposeFinding(
            f"compose.{fid}", status, self.name, at[0], at[1], summary, details, remedy,
            edits or [], checks, fixes))

    def _list(self, key: str) -> Any:
        value = self.service.get(key)
        return value if isinstance(value, list) else None

    def _request_edits(self) -> list[Edit]:
        """Edits that add `deploy.resources.reservations.devices: [nvidia, all, [gpu]]`."""
        return [Edit("set", self.service, ("deploy", "resources", "reservations", "devices"),
                     [new_map(NVIDIA_REQUEST)])]

    def _has_request(self) -> bool:
        return bool(self._reservations())

    def _reservations(self) -> list[Any]:
        deploy = self.service.get("deploy")
        resources: Any = deploy.get("resources") if hasattr(deploy, "get") else None
        reservations: Any = resources.get("reservations") if hasattr(resources, "get") else None
        devices = reservations.get("devices") if hasattr(reservations, "get") else None
        return list(devices) if isinstance(devices, list) else []

    # ----- the rules ------------------------------------------------------------------------
    def judge(self) -> list[ComposeFinding]:
        self.devices()
        self.group_add()
        self.reservations()
        self.runtime()
        self.gpus_key()
        self.environment()
        self.hsa_override()
        return self.findings

    def devices(self) -> None:
        devices = self._list("devices")
        if devices is None:
            return
        listed = [str(d).split(":")[0] for d in devices]
        for index, entry in enumerate(list(devices)):
            if not isinstance(entry, str):
                continue
            at = position(devices, index)
            if "/dev/dri/by-path/" in entry:
                self._by_path(devices, entry, at, listed)
                continue
            if _CDI_NAME.match(entry):
                self._cdi_device(entry, at)
                continue
            host_path = entry.split(":")[0]
            if host_path == KFD:
                if not self.host.kfd_exists:
                    self.add("kfd_missing_on_host", Status.FAIL, at,
                             f"{KFD} does not exist on this host",
                             f"`{entry}` asks Docker to pass {KFD}, which amdgpu creates when it "
                             "loads; the container fails to start with `error gathering device "
                             f"information while adding custom device \"{KFD}\"`.",
                             "Load the amdgpu driver first (see the check named below).",
                             checks=("kernel.driver", "devices.nodes"))
                else:
                    self.nodes.append(KFD)
                continue
            if host_path == "/dev/dri":
                self._whole_dri(devices, entry, at)
                continue
            if host_path.startswith("/dev/dri/"):
                self._drm_node(devices, entry, host_path, at, listed)
        self._kfd_needed(devices)

    def _replacement(self, vendor: str | None, listed: list[str]) -> str | None:
        """A render node of a selected GPU that the service does not list yet."""
        vendors = [vendor] if vendor else list(self.host.selected_renders)
        for v in vendors:
            for node in self.host.selected_renders.get(v, []):
                if node not in listed:
                    return node
        return None

    def _by_path(self, devices: Any, entry: str, at: tuple[int, int], listed: list[str]) -> None:
        match = _BY_PATH.search(entry)
        link = match.group(0) if match else entry.split(":")[0]
        real = self.host.resolve(link)
        gpu = self.host.gpu_of_node.get(real or "")
        target = real if real and gpu and gpu.selected else self._replacement(
            gpu.vendor if gpu else None, listed)
        edits = ([Edit("set", devices, devices.index(entry), target)] if target
                 else [Edit("remove", devices, None, entry)])
        if target:
            listed.append(target)
            self.nodes.append(target)
        self.add("device_by_path", Status.FAIL, at,
                 f"`{entry}` is a /dev/dri/by-path name, whose colons Compose splits",
                 "Compose (like `docker run --device`) reads `HOST:CONTAINER:PERMISSIONS`, so "
                 f"the PCI address in `{link}` is cut at its colons and the container fails with "
                 "`invalid device mode` or a missing device. Pass the node the link points at."
                 + (f" On this host it points at {real}." if real else
                    " The link does not exist on this host."),
                 f"Use `{target}`." if target else "Remove it.", edits)

    def _cdi_device(self, entry: str, at: tuple[int, int]) -> None:
        if "v2" not in self.host.compose_versions and "v1" in self.host.compose_versions:
            self.add("cdi_name_compose_v1", Status.FAIL, at,
                     f"`{entry}` is a CDI device name, which docker-compose "
                     f"{self.host.compose_versions['v1']} passes as a path",
                     "Compose v1 treats every `devices` entry as a file path; CDI names need "
                     "Compose v2 (`docker compose`) and a daemon with CDI enabled.",
                     "Install the Compose v2 plugin (`docker compose`), or use "
                     "`deploy.resources.reservations.devices` with `driver: nvidia`.",
                     checks=("docker.cdi",))

    def _whole_dri(self, devices: Any, entry: str, at: tuple[int, int]) -> None:
        left_out = sorted({g.short_pci for g in self.host.gpu_of_node.values() if not g.selected})
        wanted = [n for v in self.host.selected_renders.values() for n in v]
        if not left_out or not wanted:
            self.nodes += wanted
            return
        index = devices.index(entry)
        edits = [Edit("set", devices, index, wanted[0])]
        edits += [Edit("append", devices, None, node) for node in wanted[1:]]
        self.nodes += wanted
        self.add("device_whole_dri", Status.WARN, at,
                 "`/dev/dri` passes every GPU, including ones gpudoctor left out "
                 f"({', '.join(left_out)})",
                 "The whole folder gives the container the integrated GPU's nodes too; ROCm and "
                 "other runtimes then enumerate it first or beside the card and pick the wrong "
                 "device (the AMD field guide's laptop).",
                 "Pass only the selected GPUs' render nodes: " + ", ".join(wanted) + ".", edits)

    def _drm_node(self, devices: Any, entry: str, host_path: str, at: tuple[int, int],
                  listed: list[str]) -> None:
        real = self.host.resolve(host_path)
        gpu = self.host.gpu_of_node.get(real or "") if real else None
        if real is None:
            target = self._replacement(None, listed)
            self.add("device_missing", Status.FAIL, at,
                     f"{host_path} does not exist on this host",
                     f"Docker fails to start the service: `error gathering device information "
                     f"while adding custom device \"{host_path}\": no such file or directory`. "
                     "Render node numbers differ between hosts and can change after a driver or "
                     "GPU change.",
                     f"Use `{target}`." if target else "Remove it.",
                     [Edit("set", devices, devices.index(entry), target)] if target
                     else [Edit("remove", devices, None, entry)],
                     checks=("devices.nodes",))
            if target:
                listed.append(target)
                self.nodes.append(target)
            return
        if gpu is not None and not gpu.selected:
            target = self._replacement(gpu.vendor, listed)
            self.add("device_not_selected", Status.FAIL, at,
                     f"{host_path} belongs to {gpu.short_pci} ({gpu.label}), which is "
                     + ("the integrated GPU" if gpu.integrated else "not selected"),
                     f"{gpu.selection_reason or 'gpudoctor did not select it'}. A container "
                     "given this node computes on it instead of the card (or sees both).",
                     f"Use `{target}`." if target else "Remove it.",
                     [Edit("set", devices, devices.index(entry), target)] if target
                     else [Edit("remove", devices, None, entry)],
                     checks=("gpu.present",))
            if target:
                listed.append(target)
                self.nodes.append(target)
            return
        self.nodes.append(real)

    def _kfd_needed(self, devices: Any) -> None:
        amd = [n for n in self.nodes if getattr(self.host.gpu_of_node.get(n), "vendor", "")
               == "amd"]
        if not amd or KFD in [str(d).split(":")[0] for d in devices]:
            return
        self.add("kfd_not_passed", Status.FAIL, key_position(self.service, "devices"),
                 f"the service gets an AMD render node ({amd[0]}) but not {KFD}",
                 "ROCm computes through /dev/kfd; without it HIP reports no device "
                 "(`hipErrorNoDevice`) even though the render node is there.",
                 f"Add `{KFD}` to devices.",
                 [Edit("append", devices, None, KFD)] if self.host.kfd_exists else [],
                 checks=("devices.nodes",))
        if self.host.kfd_exists:
            self.nodes.insert(0, KFD)

    def group_add(self) -> None:
        groups = self._list("group_add")
        needed = self._needed_gids()
        user = str(self.service.get("user", "") or "")
        if groups is None:
            if needed and user and user.split(":")[0] not in ("root", "0"):
                self.add("group_add_missing", Status.WARN, key_position(self.service, "user"),
                         f"the service runs as `{user}` without the groups that own its device "
                         f"files ({', '.join(map(str, needed))})",
                         "A non-root user in the container can open the render node and "
                         "/dev/kfd only through the group that owns them on the host.",
                         "Add them as quoted numbers under group_add.",
                         [Edit("set", self.service, "group_add", [quoted(str(g)) for g in needed])])
            return
        present: set[int] = {int(e) for e in groups if isinstance(e, int) and
                             not isinstance(e, bool)}
        present |= {int(e) for e in groups if isinstance(e, str) and e.isdigit()}
        for index, entry in enumerate(list(groups)):
            at = position(groups, index)
            if isinstance(entry, bool) or not isinstance(entry, (int, str)):
                continue
            if isinstance(entry, int):
                present.add(entry)
                self.add("group_add_unquoted", Status.FAIL, at,
                         f"group_add entry {entry} is a YAML number",
                         "Compose v2 rejects it: `'group_add[0]' expected type 'string', got "
                         f"unconvertible type 'int', value: '{entry}'`.",
                         f"Quote it: `'{entry}'`.",
                         [Edit("set", groups, index, quoted(str(entry)))])
                continue
            if entry.isdigit():
                present.add(int(entry))
                continue
            gid = self.host.gid_of_name(entry)
            owners = needed or ([gid] if gid is not None else [])
            replacement = [g for g in owners if g not in present]
            present.update(replacement)
            self.add("group_add_name", Status.FAIL if needed else Status.WARN, at,
                     f"group_add names the group `{entry}`, which is looked up in the image",
                     f"Docker resolves `{entry}` in the container's /etc/group, not the host's: "
                     "images number their groups differently (AMD's ROCm images have "
                     "render = 109), or lack the group (`Unable to find group`)."
                     + (f" On this host `{entry}` is GID {gid}." if gid is not None else ""),
                     "Use the numeric GID: " + ", ".join(f"'{g}'" for g in owners)
                     if owners else "Use the numeric GID that owns the device files.",
                     [Edit("set", groups, index, quoted(str(replacement[0])))]
                     + [Edit("append", groups, None, quoted(str(g))) for g in replacement[1:]]
                     if replacement else [Edit("remove", groups, None, entry)] if owners
                     else [])
        missing = [g for g in needed if g not in present]
        if missing and present:
            self.add("group_add_wrong_gid", Status.WARN, key_position(self.service, "group_add"),
                     "group_add lacks the GID that owns the service's device files on this host "
                     f"({', '.join(map(str, missing))})",
                     "A non-root user in the container gets permission denied on those nodes; "
                     "the GIDs differ from host to host.",
                     "Add " + ", ".join(f"'{g}'" for g in missing) + ".",
                     [Edit("append", groups, None, quoted(str(g))) for g in missing])

    def _needed_gids(self) -> list[int]:
        gids: list[int] = []
        for node in self.nodes:
            gid = self.host.gid_of(node)
            if gid and gid not in gids:
                gids.append(gid)
        return gids

    def reservations(self) -> None:
        for item in self._reservations():
            if not hasattr(item, "get"):
                continue
            at = (item.lc.line + 1, item.lc.col + 1) if hasattr(item, "lc") else (0, 0)
            caps = item.get("capabilities")
            driver = item.get("driver")
            if caps is None:
                self.add("capabilities_missing", Status.FAIL, at,
                         "a device reservation has no `capabilities`",
                         "Compose requires `capabilities` on each device reservation and "
                         "refuses the file without it; `[gpu]` asks for GPUs.",
                         "Add `capabilities: [gpu]`.",
                         [Edit("set", item, "capabilities", ["gpu"])])
            elif isinstance(caps, list) and "gpu" not in [str(c) for c in caps]:
                self.add("capabilities_no_gpu", Status.WARN, position(item, "capabilities"),
                         f"the device reservation's capabilities {list(caps)} do not include "
                         "`gpu`",
                         "Docker picks the device driver whose capabilities cover the request; "
                         "`gpu` is the one every GPU driver registers (`--gpus` always adds it).",
                         "Add `gpu` to capabilities.",
                         [Edit("append", caps, None, "gpu")])
            if driver not in (None, "nvidia") and not str(driver).startswith("nvidia"):
                continue
            self._nvidia_request(item, at)

    def _nvidia_request(self, item: Any, at: tuple[int, int]) -> None:
        gpus = self.host.nvidia_gpus
        if not gpus:
            self.add("nvidia_request_no_nvidia_gpu", Status.FAIL, at,
                     "the service reserves an NVIDIA GPU, but this host has none selected",
                     "`driver: nvidia` asks Docker's NVIDIA device driver for GPUs; there is no "
                     "NVIDIA GPU here (see gpu.present), so the service cannot start.",
                     "Use the AMD or Intel device files instead (`gpudoctor devices` prints "
                     "them).", checks=("gpu.present",))
            return
        registered = self.host.gpus_driver()
        if registered is False:
            self.add("nvidia_driver_not_registered", Status.FAIL, at,
                     "the file is right, but this Docker daemon has no NVIDIA device driver",
                     "`docker compose up` fails with `could not select device driver \"nvidia\" "
                     "with capabilities: [[gpu]]`: nvidia-container-runtime-hook was not on "
                     "dockerd's PATH when it started (the NVIDIA field guide's host).",
                     "Fix the host, not the file (see nvidia.toolkit).",
                     checks=("nvidia.toolkit",), fixes=("nvidia.install_toolkit", "docker.reload"))
        count = item.get("count")
        ids = item.get("device_ids")
        if count is not None and ids is not None:
            self.add("count_and_device_ids", Status.FAIL, position(item, "count"),
                     "the reservation sets both `count` and `device_ids`",
                     "Compose refuses a device reservation with both; `device_ids` picks the "
                     "GPUs.", "Remove `count`.", [Edit("delete", item, "count")])
        elif isinstance(count, int) and not isinstance(count, bool) and count > len(gpus):
            self.add("count_too_high", Status.FAIL, position(item, "count"),
                     f"the reservation asks for {count} GPUs; this host has {len(gpus)}",
                     "Docker cannot satisfy the request and the service does not start.",
                     f"Use `count: {len(gpus)}` (or `all`).",
                     [Edit("set", item, "count", len(gpus))])
        if isinstance(ids, list):
            for index, value in enumerate(ids):
                text = str(value)
                if text.isdigit() and int(text) >= len(gpus):
                    self.add("device_id_unknown", Status.FAIL, position(ids, index),
                             f"device_ids names GPU {text}; this host's NVIDIA GPUs are "
                             f"0 to {len(gpus) - 1}",
                             "The NVIDIA hook fails the container start with `unknown device`.",
                             "Use an index that exists, or `count: all`.",
                             [Edit("remove", ids, None, value)])

    def runtime(self) -> None:
        if self.service.get("runtime") != "nvidia":
            return
        at = position(self.service, "runtime")
        loaded = self.host.runtime_loaded("nvidia")
        if loaded is not False:
            return
        works = self.host.gpus_driver()
        edits = [Edit("delete", self.service, "runtime")]
        if not self._has_request():
            edits += self._request_edits()
        self.add("runtime_not_loaded", Status.FAIL, at,
                 "`runtime: nvidia`, but this Docker daemon has no runtime named nvidia",
                 "The service fails with `unknown or invalid runtime name: nvidia`."
                 + (" This daemon gives GPUs through its NVIDIA device driver instead "
                    "(`--gpus`, or a device reservation in compose), which needs no runtime."
                    if works else ""),
                 "Replace it with a device reservation." if works else
                 "Declare the runtime on the host (see docker.nvidia_runtime).",
                 edits if works else [], checks=("docker.nvidia_runtime",),
                 fixes=() if works else ("docker.configure_nvidia_runtime", "docker.reload"))

    def gpus_key(self) -> None:
        if "gpus" not in self.service:
            return
        versions = self.host.compose_versions
        if "v1" not in versions:
            return
        at = key_position(self.service, "gpus")
        edits = [Edit("delete", self.service, "gpus")]
        if not self._has_request():
            edits += self._request_edits()
        only_v1 = "v2" not in versions
        self.add("v2_only_gpus", Status.FAIL if only_v1 else Status.WARN, at,
                 f"`gpus:` is Compose v2 syntax; docker-compose {versions['v1']} (v1) rejects it",
                 "docker-compose v1 stops with `Unsupported config option for services."
                 f"{self.name}: 'gpus'`."
                 + ("" if only_v1 else " It works with `docker compose` (v2), which is also "
                    "installed."),
                 "Use a device reservation, which both read.", edits)

    def environment(self) -> None:
        env = self.service.get("environment")
        names: list[str] = []
        if hasattr(env, "keys"):
            names = [str(k) for k in env]
        elif isinstance(env, list):
            names = [str(e).split("=", 1)[0] for e in env]
        if "NVIDIA_VISIBLE_DEVICES" not in names or not self.host.nvidia_gpus:
            return
        if self.service.get("runtime") == "nvidia" or self._has_request() or "gpus" in \
                self.service:
            return
        try:
            default = self.host.facts.docker.default_runtime
        except Exception:
            default = None
        if default == "nvidia":
            return
        self.add("nvidia_env_only", Status.WARN, key_position(self.service, "environment"),
                 "NVIDIA_VISIBLE_DEVICES is set, but nothing asks Docker for a GPU",
                 "The variable is read by the NVIDIA runtime or hook, which runs only for a "
                 "device reservation, `gpus`, or `runtime: nvidia`; alone it gives no GPU.",
                 "Add a device reservation.", self._request_edits())

    def hsa_override(self) -> None:
        """HSA_OVERRIDE_GFX_VERSION(_n) must fit the GPU it applies to: a value of another ISA
        family makes ROCm load code the GPU cannot run (facts/amd.py decides what fits)."""
        from gpudoctor.facts.amd import OVERRIDE_VAR, acceptable_overrides

        env = self.service.get("environment")
        pairs: list[tuple[str, str, Any]] = []  # (name, value, list item or None)
        if hasattr(env, "items"):
            pairs = [(str(k), str(v), None) for k, v in env.items()]
        elif isinstance(env, list):
            pairs = [(*str(e).split("=", 1), e) for e in env if "=" in str(e)]
        set_here = [p for p in pairs if p[0] == OVERRIDE_VAR
                    or p[0].startswith(OVERRIDE_VAR + "_")]
        if not set_here:
            return
        fits = acceptable_overrides(self.host.facts)
        for name, value, item in set_here:
            wrong = [f for f in fits.get(name, []) if value.strip() not in f[2]]
            if not wrong:
                continue
            edits = ([Edit("remove", env, value=item)] if item is not None
                     else [Edit("delete", env, name)])
            who = "; ".join(f"{pci} ({gfx}, which takes {' or '.join(sorted(ok))})"
                            for pci, gfx, ok in wrong)
            self.add("hsa_override_wrong", Status.WARN, key_position(self.service, "environment"),
                     f"{name}={value} does not fit {who}",
                     "The override makes ROCm treat the GPU as another target and load that "
                     "target's code; from another ISA family the GPU cannot run it (`HIP error: "
                     "invalid device function`, or a hang).",
                     "Remove it, or use the value `gpudoctor devices --hsa-override` prints.",
                     edits, ("amd.gfx_target",))


def judge(compose: ComposeFile, host: ComposeHost) -> list[ComposeFinding]:
    findings: list[ComposeFinding] = []
    for name, service in compose.services.items():
        if hasattr(service, "get"):
            findings += ServiceJudge(str(name), service, host).judge()
    return findings
