"""AMD facts beyond the inventory: gfx targets against ROCm's support table, the override a
person may opt into, and the amdgpu module against amdgpu-dkms.

gfx targets come from the KFD topology (`gfx_target_version`, decimal major*10000 + minor*100
+ stepping), never from names: that number is what ROCm itself matches against the code
objects its libraries ship. The support table is package data (rocm_support.json), dated, one
list of gfx names per ROCm release line; the image's ROCm cannot be seen from the host, so the
newest line is the default and `--rocm LINE` judges for an image built on an older one.

The override (`HSA_OVERRIDE_GFX_VERSION`) is only ever an opt-in (`--hsa-override`): it makes
ROCm treat a card as a sibling of the same ISA family, which works for RDNA2/RDNA3 consumer
parts and hangs others. When the selected GPUs need different values (or one needs none), the
per-node form `HSA_OVERRIDE_GFX_VERSION_<n>` is used, `<n>` being the KFD topology node index
(CPU nodes included), the index libhsakmt reads it by.
"""

from __future__ import annotations

import json
import re
from functools import cache

from gpudoctor import TYPE_CHECKING
from gpudoctor.errors import HostError, UserError
from gpudoctor.facts.gpus import KfdNode, read_kfd_topology, render_minor
from gpudoctor.record import field, record

if TYPE_CHECKING:
    from typing import Any

    from gpudoctor.facts import Facts
    from gpudoctor.facts.gpus import Gpu
    from gpudoctor.host.base import Host

OVERRIDE_VAR = "HSA_OVERRIDE_GFX_VERSION"
DKMS_TREE = "/var/lib/dkms/amdgpu"


# ----- the support table ----------------------------------------------------------------------
@record(frozen=True)
class SupportLine:
    """One ROCm release line and the gfx targets it supports."""

    rocm: str
    released: str
    gfx: frozenset[str]


@record(frozen=True)
class SupportTable:
    """rocm_support.json: ROCm lines, gfx overrides, and targets no override helps."""

    checked: str
    lines: tuple[SupportLine, ...]
    #: gfx name -> (override value, the target it then runs as)
    overrides: dict[str, tuple[str, str]]
    no_override: dict[str, str]

    @property
    def newest(self) -> SupportLine:
        return self.lines[-1]

    def line(self, rocm: str | None) -> SupportLine:
        """The release line `rocm` names ("6.4", "6.4.1" -> 6.4); the newest for None."""
        if not rocm:
            return self.newest
        wanted = rocm.strip().removeprefix("rocm").removeprefix("ROCm").strip()
        for line in self.lines:
            if wanted == line.rocm or wanted.startswith(line.rocm + "."):
                return line
        known = ", ".join(line.rocm for line in self.lines)
        raise UserError(f"--rocm {rocm}: not a ROCm release line gpudoctor knows (known: {known})")

    def first_supported(self, gfx: str) -> str | None:
        return next((line.rocm for line in self.lines if gfx in line.gfx), None)


@cache
def support_table() -> SupportTable:
    """rocm_support.json, shipped as package data."""
    from gpudoctor.datafile import read_text

    raw = json.loads(read_text("gpudoctor.facts", "rocm_support.json"))
    lines = tuple(SupportLine(str(e["rocm"]), str(e["released"]), frozenset(e["gfx"]))
                  for e in raw["lines"])
    overrides = {gfx: (str(e["value"]), str(e["runs_as"]))
                 for e in raw["overrides"] for gfx in e["gfx"]}
    return SupportTable(str(raw["checked"]), lines, overrides, dict(raw.get("no_override", {})))


def gfx_name(version: int) -> str:
    """KFD gfx_target_version -> LLVM target name: 110501 -> gfx1151, 90012 -> gfx90c."""
    major, minor, stepping = version // 10000, version // 100 % 100, version % 100
    return f"gfx{major}{minor:x}{stepping:x}"


# ----- gfx targets of the selected GPUs -------------------------------------------------------
@record
class AmdTarget:
    """One selected AMD GPU judged against one ROCm release line."""

    gpu: Gpu
    node: KfdNode | None
    gfx: str | None = None
    supported: bool | None = None
    #: the first release line that lists it (None: none does)
    since: str | None = None
    override: str | None = None
    runs_as: str | None = None
    no_override: str | None = None


@record
class AmdTargets:
    """The selected AMD GPUs' gfx targets judged against one ROCm line."""

    line: SupportLine
    table: SupportTable
    targets: list[AmdTarget] = field(default_factory=list)
    topology_read: bool = True

    @property
    def unsupported(self) -> list[AmdTarget]:
        return [t for t in self.targets if t.supported is False]

    def override_env(self) -> list[str]:
        """`NAME=VALUE` for the override, one global variable when every selected GPU needs
        the same value, else one per KFD node that needs one. Empty when none applies."""
        needing = [t for t in self.unsupported if t.override and t.node is not None]
        if not needing:
            return []
        values = {t.override for t in needing}
        known = [t for t in self.targets if t.gfx]
        if len(values) == 1 and len(needing) == len(known):
            return [f"{OVERRIDE_VAR}={needing[0].override}"]
        return [f"{OVERRIDE_VAR}_{t.node.index}={t.override}"  # type: ignore[union-attr]
                for t in needing]


def amd_targets(facts: Facts) -> AmdTargets:
    """The selected AMD GPUs' gfx targets, judged against the chosen ROCm line (cached)."""
    return facts.amd_targets


def judge_targets(facts: Facts) -> AmdTargets:
    table = support_table()
    line = table.line(facts.options.extra.get("rocm"))
    result = AmdTargets(line, table)
    gpus = [g for g in facts.gpus.by_vendor("amd") if g.driver == "amdgpu"]
    if not gpus:
        return result
    try:
        nodes = read_kfd_topology(facts.host)
    except HostError:
        nodes = None
    result.topology_read = nodes is not None
    by_minor = {n.render_minor: n for n in nodes or []}
    for gpu in gpus:
        node = by_minor.get(render_minor(gpu.render) or -1)
        target = AmdTarget(gpu, node)
        if node is not None and node.gfx_target_version:
            gfx = gfx_name(node.gfx_target_version)
            target.gfx = gfx
            target.supported = gfx in line.gfx
            target.since = table.first_supported(gfx)
            if not target.supported:
                value = table.overrides.get(gfx)
                if value and value[1] in line.gfx:
                    target.override, target.runs_as = value
                else:
                    target.no_override = table.no_override.get(
                        gfx, f"no supported sibling of {gfx} is known to run its code")
        result.targets.append(target)
    return result


def acceptable_overrides(facts: Facts) -> dict[str, list[tuple[str, str, set[str]]]]:
    """Variable name -> (GPU address, gfx, the override values that fit it) for each selected
    AMD GPU it applies to: the global variable applies to all, `_<node>` to that KFD node's
    GPU. A value fits when it is the GPU's family value or names its own target (harmless)."""
    judged = amd_targets(facts)
    table = judged.table
    found: dict[str, list[tuple[str, str, set[str]]]] = {}
    for t in judged.targets:
        if t.gfx is None or t.node is None:
            continue
        own = t.node.gfx_target_version
        ok = {f"{own // 10000}.{own // 100 % 100}.{own % 100}"}
        if t.gfx in table.overrides:
            ok.add(table.overrides[t.gfx][0])
        for name in (OVERRIDE_VAR, f"{OVERRIDE_VAR}_{t.node.index}"):
            found.setdefault(name, []).append((t.gpu.short_pci, t.gfx, ok))
    return found


def override_requested(facts: Facts) -> bool:
    return bool(facts.options.extra.get("hsa_override"))


def override_args(facts: Facts) -> list[str]:
    """`--env=HSA_OVERRIDE_GFX_VERSION...` arguments, only when the person asked for them."""
    if not override_requested(facts) or not facts.gpus.by_vendor("amd"):
        return []
    return [f"--env={pair}" for pair in amd_targets(facts).override_env()]


# ----- amdgpu module and amdgpu-dkms ----------------------------------------------------------
@record(frozen=True)
class DkmsEntry:
    """One line of `dkms status` for amdgpu."""

    version: str
    kernel: str | None
    arch: str | None
    state: str  # installed, built, added, ...
    note: str = ""
    line: str = ""


_DKMS_LINE = re.compile(r"^(?P<left>[^:]+?)\s*:\s*(?P<state>[A-Za-z-]+)\s*(?P<note>.*)$")


def parse_dkms_status(text: str, module: str = "amdgpu") -> list[DkmsEntry]:
    """Lines of `dkms status` for one module, in both the dkms 2.x and 3.x layouts:
    `amdgpu/6.16.6-2255209.24.04, 6.17.0-5-generic, x86_64: installed (Original modules exist)`
    `amdgpu, 1.9-211.el7, 3.10.0-862.11.6.el7.x86_64, x86_64: installed`."""
    entries = []
    for raw in text.splitlines():
        line = raw.strip()
        match = _DKMS_LINE.match(line)
        if not match:
            continue
        parts = [p.strip() for p in match.group("left").split(",")]
        head = parts[0]
        if "/" in head:
            name, version = head.split("/", 1)
            rest = parts[1:]
        else:
            name = head
            if len(parts) < 2:
                continue
            version, rest = parts[1], parts[2:]
        if name != module or not version.strip():
            continue
        entries.append(DkmsEntry(version=version, kernel=rest[0] if rest else None,
                                 arch=rest[1] if len(rest) > 1 else None,
                                 state=match.group("state").lower(),
                                 note=match.group("note").strip(), line=line))
    return entries


@record
class AmdgpuDriver:
    """What the host has of amdgpu: loaded module, DKMS builds, the running kernel."""

    kernel: str | None
    loaded: bool
    #: /sys/module/amdgpu/version: only amdgpu-dkms declares one
    loaded_version: str | None
    taint: str = ""
    #: `dkms status` as recorded (None: not run or not recorded)
    dkms_status: list[DkmsEntry] | None = None
    dkms_error: str | None = None
    #: /var/lib/dkms/amdgpu/<version>/<kernel>/<arch> folders, version -> kernels
    tree: dict[str, list[str]] = field(default_factory=dict)
    #: the last compiler error in make.log of each version that has one
    make_errors: dict[str, str] = field(default_factory=dict)
    headers: bool | None = None

    @property
    def installed(self) -> bool:
        return bool(self.tree) or bool(self.dkms_status)

    @property
    def source(self) -> str | None:
        if not self.loaded:
            return None
        return "dkms" if self.loaded_version else "in-tree"

    def built_kernels(self) -> dict[str, list[str]]:
        """version -> kernels DKMS built or installed amdgpu for (status first, tree else)."""
        kernels: dict[str, list[str]] = {}
        if self.dkms_status:
            for entry in self.dkms_status:
                kernels.setdefault(entry.version, [])
                if entry.kernel and entry.state in ("installed", "built"):
                    kernels[entry.version].append(entry.kernel)
            return kernels
        return {v: list(k) for v, k in self.tree.items()}

    @property
    def built_for_running(self) -> bool:
        return any(self.kernel in ks for ks in self.built_kernels().values())


def _listdir(host: Host, path: str) -> list[str]:
    try:
        return host.listdir(path)
    except HostError:
        return []


def amdgpu_driver(facts: Facts) -> AmdgpuDriver:
    """What the host has of amdgpu (cached for the run as Facts.amdgpu_driver)."""
    return facts.amdgpu_driver


def inspect_amdgpu_driver(facts: Facts) -> AmdgpuDriver:
    host = facts.host
    module = facts.modules.get("amdgpu")
    version = host.read_attr("/sys/module/amdgpu/version") if module else None
    drv = AmdgpuDriver(kernel=facts.kernel_release, loaded=module is not None,
                       loaded_version=version or None, taint=module.taint if module else "")
    for ver in sorted(_listdir(host, DKMS_TREE)):
        if ver in ("original_module", "kernel") or ver.startswith("kernel-"):
            continue
        kernels = [k for k in sorted(_listdir(host, f"{DKMS_TREE}/{ver}"))
                   if k not in ("source", "build") and _listdir(host, f"{DKMS_TREE}/{ver}/{k}")]
        drv.tree[ver] = kernels
        log = _make_error(host, f"{DKMS_TREE}/{ver}/build/make.log")
        if log:
            drv.make_errors[ver] = log
    result = host.run("dkms-status", ["dkms", "status", "amdgpu"], 15.0)
    if result is not None:
        if result.ok or result.stdout.strip():
            drv.dkms_status = parse_dkms_status(result.stdout)
        else:
            drv.dkms_error = result.describe_failure() if not result.missing else "not installed"
    if drv.kernel:
        drv.headers = host.exists(f"/lib/modules/{drv.kernel}/build")
    return drv


def _make_error(host: Host, path: str) -> str | None:
    try:
        text = host.read_optional(path, 4 * 1024 * 1024)
    except HostError:
        return None
    if not text:
        return None
    lines = [ln.strip() for ln in text.splitlines()]
    errors = [ln for ln in lines if "error:" in ln] or [ln for ln in lines if "Error " in ln]
    return errors[-1][:300] if errors else None


# ----- AMD Container Toolkit ------------------------------------------------------------------
@record
class AmdCdiSpec:
    """One AMD Container Toolkit CDI spec file and the devices it names."""

    path: str
    #: device name ("0", "1", "all") -> the device node paths it gives
    devices: dict[str, list[str]] = field(default_factory=dict)
    error: str | None = None
    mtime: float | None = None


def read_amd_spec(host: Host, path: str) -> AmdCdiSpec:
    """An amd.com/gpu CDI spec (amd-ctk writes JSON; YAML is read when PyYAML is there)."""
    spec = AmdCdiSpec(path)
    try:
        text = host.read_text(path, 4 * 1024 * 1024)
        st = host.stat(path)
        spec.mtime = st.mtime if st is not None else None
    except HostError as exc:
        spec.error = exc.reason
        return spec
    doc: Any
    try:
        doc = json.loads(text)
    except ValueError:
        try:
            import yaml

            doc = yaml.safe_load(text)
        except Exception as exc:
            spec.error = f"not valid JSON or YAML ({type(exc).__name__})"
            return spec
    if not isinstance(doc, dict) or doc.get("kind") != "amd.com/gpu":
        spec.error = "not an amd.com/gpu CDI spec"
        return spec
    for dev in doc.get("devices") or []:
        if not isinstance(dev, dict) or "name" not in dev:
            continue
        nodes = ((dev.get("containerEdits") or {}).get("deviceNodes") or [])
        spec.devices[str(dev["name"])] = [str(n.get("hostPath") or n.get("path"))
                                          for n in nodes if isinstance(n, dict)]
    return spec


def amd_cdi_specs(facts: Facts) -> list[AmdCdiSpec]:
    """amd.com/gpu specs among the CDI spec files the daemon reads."""
    def compute() -> list[AmdCdiSpec]:
        found = []
        try:
            specs = facts.cdi.specs
        except HostError:
            return []
        for spec in specs:
            if spec.kind == "amd.com/gpu":
                found.append(read_amd_spec(facts.host, spec.path))
        return found

    return facts.memo("amd.cdi_specs", compute)
