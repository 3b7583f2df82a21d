"""devices.nodes: the device files containers need exist and are the right character devices.

AMD: /dev/kfd (dynamic major) and the render node(s) of every selected GPU (major 226, minor
as sysfs says). A missing render node makes ROCm skip that GPU silently; a missing /dev/kfd
stops ROCm entirely. NVIDIA: /dev/nvidiaN of each GPU and /dev/nvidiactl (major 195) and
/dev/nvidia-uvm (dynamic major). Intel: the render node.
"""

from __future__ import annotations

from gpudoctor import TYPE_CHECKING
from gpudoctor.plugin import (
    Area,
    Check,
    Findings,
    Result,
    Say,
    Sentences,
    Status,
    field,
    record,
    said_once,
)

if TYPE_CHECKING:
    from typing import Any

    from gpudoctor.facts import Facts

ID = "devices.nodes"
KFD = "/dev/kfd"
UVM = "/dev/nvidia-uvm"
DRM_MAJOR = 226
NVIDIA_MAJOR = 195
NVIDIACTL_MINOR = 255
WHY = ("`docker run --device` copies a device file from the host into the container, so the "
       "host must have it, as a character device with the kernel's numbers: docker refuses a "
       "missing one (`error gathering device information while adding custom device`), and a "
       "node with stale numbers reaches the wrong device or none.")
CREATE_NVIDIA = "sudo nvidia-modprobe -u -c=0"
CREATE_NVIDIA_CTK = ("sudo nvidia-ctk system create-device-nodes --control-devices "
                     "--load-kernel-modules")
_KFD_REMEDY = ("/dev/kfd appears when amdgpu loads with KFD support: check kernel.driver, then "
               "`sudo modprobe amdgpu`.")
_NO_RENDER_WHY = ("Without a render node a GPU cannot be handed to a container; the kernel "
                  "creates it when the driver binds. " + WHY)
_NOT_LOADED_REMEDY = "Load the nvidia driver first (see kernel.driver); its device files follow."

SENTENCES = Sentences(ID, {
    # The nvidia driver is not loaded, so none of /dev/nvidia* can be right. (The id predates
    # the per-kind ids; fleets group the hosts without the nvidia driver under it.)
    "unusable": Say(Status.FAIL, "{who} has no /dev/nvidiaN: the nvidia driver is not loaded",
                    WHY, _NOT_LOADED_REMEDY),
    "unusable_all": Say(Status.FAIL, "the nvidia driver is not loaded, so /dev/nvidia* are "
                        "missing", WHY, _NOT_LOADED_REMEDY, finding="unusable"),
    "unreadable": Say(Status.FAIL, "{path} cannot be examined ({reason})", WHY),
    "missing": Say(Status.FAIL, "{path} ({what}) is missing", WHY,
                   "udev creates it from what sysfs lists: `sudo udevadm trigger` (or reboot).",
                   commands=("sudo udevadm trigger",)),
    "kfd_missing": Say(Status.FAIL, "{path} ({what}) is missing", WHY, _KFD_REMEDY,
                       commands=("sudo modprobe amdgpu",), finding="missing"),
    "kfd_missing_no_kfd": Say(
        Status.FAIL, "{path} ({what}) is missing",
        "The kernel has no kfd device at all: amdgpu is not loaded, or the kernel was built "
        "without CONFIG_HSA_AMD. " + WHY, _KFD_REMEDY, commands=("sudo modprobe amdgpu",),
        finding="missing"),
    "not_char": Say(Status.FAIL, "{path} ({what}) is a {kind}, not a character device", WHY,
                    "Remove the impostor and let udev recreate it: `sudo rm {path}` then "
                    "`sudo udevadm trigger` (or reboot).",
                    commands=("sudo rm {path}", "sudo udevadm trigger")),
    "wrong_numbers": Say(Status.FAIL, "{path} ({what}) has {wrong}", WHY,
                         "{path} was made by hand or is left from another boot; remove it and "
                         "let udev recreate it: `sudo rm {path} && sudo udevadm trigger`.",
                         commands=("sudo rm {path} && sudo udevadm trigger",)),
    "no_render_node": Say(Status.FAIL, "{who} has no render node", _NO_RENDER_WHY,
                          "{driver} drives {who} but made no render node: read "
                          "`sudo dmesg | grep -i {driver}` for an initialisation error.",
                          commands=("sudo dmesg | grep -i {driver}",)),
    "no_render_node_no_driver": Say(Status.FAIL, "{who} has no render node", _NO_RENDER_WHY,
                                    "Make the driver bind first (see kernel.driver); the render "
                                    "node appears with it.", finding="no_render_node"),
    "nvidia_node_missing": Say(
        Status.WARN, "{path} ({what}) is missing",
        "The nvidia driver creates /dev/nvidia-uvm and /dev/nvidiactl only when something "
        "asks: the container toolkit usually does (load-kmods), but a CDI spec generated while "
        "they were absent leaves them out. " + WHY,
        f"Create them now: `{CREATE_NVIDIA}` (or `{CREATE_NVIDIA_CTK}`).",
        commands=(CREATE_NVIDIA, CREATE_NVIDIA_CTK)),
    "kfd_unlisted": Say(
        Status.WARN, "KFD lists no compute node for {who} (renderD{minor}): ROCm will not see it",
        WHY, "A GPU newer than the kernel's KFD gets no compute node (dmesg: `GC IP ... not "
        "supported in kfd`): install a newer kernel or amdgpu-dkms."),
    "not_captured": Say(Status.SKIP, "this root did not capture the device nodes ({paths})",
                        WHY),
    "ok": Say(Status.PASS, "{count} device files present with the right numbers: {paths}", WHY),
})


@record
class Tally:
    """What was seen across the vendors: the findings, and the nodes looked at."""

    found: Findings
    uncaptured: list[str] = field(default_factory=list)
    #: (path, fine) of each device file looked at
    nodes: list[tuple[str, bool]] = field(default_factory=list)
    #: the device files that do not exist
    missing: list[str] = field(default_factory=list)

    @property
    def evidence(self) -> list[str]:
        return self.found.evidence


class DevicesNodes(Check):
    id = ID
    title = "Device files for the selected GPUs"
    area = Area.DEVICES
    order = 40
    requires = ("gpu.present",)
    sentences = SENTENCES

    def applies(self, facts: Facts) -> str | None:
        if not [g for g in facts.gpus.selected if g.vendor in ("amd", "nvidia", "intel")]:
            return "no selected AMD, NVIDIA or Intel GPU needs device files"
        return None

    def run(self, facts: Facts) -> Result:
        tally = Tally(self.findings())
        inv = facts.gpus
        skipped = []
        if inv.by_vendor("amd"):
            self._amd(facts, tally)
        else:
            skipped.append("no AMD GPU selected: /dev/kfd and AMD render nodes not needed")
        if inv.by_vendor("nvidia"):
            self._nvidia(facts, tally)
        else:
            skipped.append("no NVIDIA GPU selected: /dev/nvidia* not needed")
        for gpu in inv.by_vendor("intel"):
            self._render_nodes(facts, tally, gpu.short_pci, gpu.render_nodes, gpu.driver)
        tally.evidence.extend(skipped)
        items = tally.found.items
        if tally.uncaptured and not tally.nodes and not items:
            return tally.found.verdict("not_captured", paths=", ".join(tally.uncaptured))
        checked = [path for path, fine in tally.nodes if fine]
        result = tally.found.verdict(
            "ok", count=len(checked),
            paths=", ".join(checked[:6]) + (" ..." if len(checked) > 6 else ""))
        if tally.missing == [UVM] and [f.id for f in items] == [
                SENTENCES.finding_id("nvidia_node_missing")]:
            result.cause = "nvidia.uvm"  # it says why the module and its node are missing
        return said_once(result, WHY)

    # ----- one node ---------------------------------------------------------------------------
    def _node(self, facts: Facts, tally: Tally, path: str, major: int | None,
              minor: int | None, what: str, missing: str = "missing",
              **values: Any) -> bool:
        """Check one device file; returns True when it is fine. `missing` is the finding said
        when it does not exist."""
        from gpudoctor.errors import HostError
        from gpudoctor.facts.runargs import describe_stat, node_stat, resolve_node

        found = tally.found
        real = resolve_node(facts.host, path)
        try:
            st = node_stat(facts, real)
        except HostError as exc:
            found.say("unreadable", path=path, reason=exc.reason)
            tally.evidence.append(f"{path}: {exc.reason}")
            return False
        shown = path if real == path else f"{path} -> {real}"
        if st is None:
            tally.evidence.append(f"{shown}: does not exist")
            found.say(missing, path=real, what=what, **values)
            tally.missing.append(real)
            tally.nodes.append((real, False))
            return False
        if not facts.host.live and st.kind == "file" and st.size == 0:
            tally.evidence.append(f"{shown}: an empty placeholder file; the root did not record "
                                  "its type and numbers")
            tally.uncaptured.append(real)
            return True
        tally.evidence.append(describe_stat(shown, st, facts.groups.name_of(st.gid)))
        if st.kind != "char":
            found.say("not_char", path=real, what=what, kind=st.kind)
            tally.nodes.append((real, False))
            return False
        wrong = []
        if major is not None and st.major != major:
            wrong.append(f"major {st.major}, expected {major}")
        if minor is not None and st.minor != minor:
            wrong.append(f"minor {st.minor}, expected {minor}")
        if wrong:
            found.say("wrong_numbers", path=real, what=what, wrong=" and ".join(wrong))
            tally.nodes.append((real, False))
            return False
        tally.nodes.append((real, True))
        return True

    # ----- vendors ----------------------------------------------------------------------------
    def _render_nodes(self, facts: Facts, tally: Tally, who: str, nodes: list[str],
                      driver: str | None) -> None:
        from gpudoctor.facts.gpus import render_minor

        if not nodes:
            tally.evidence.append(f"{who}: sysfs lists no renderD* under its drm folder")
            tally.found.say("no_render_node" if driver else "no_render_node_no_driver",
                            who=who, driver=driver or "")
            return
        for node in nodes:
            # DRM names each node after its minor (renderD128 is 226:128)
            self._node(facts, tally, node, DRM_MAJOR, render_minor(node), f"render node of {who}")

    def _amd(self, facts: Facts, tally: Tally) -> None:
        from gpudoctor.facts.gpus import read_kfd_topology, render_minor
        from gpudoctor.facts.system import char_majors

        gpus = facts.gpus.by_vendor("amd")
        majors = char_majors(facts.host)
        kfd_major = majors.get("kfd")
        sysfs_dev = facts.host.read_attr("/sys/class/kfd/kfd/dev")
        if sysfs_dev and sysfs_dev.split(":")[0].isdigit():
            kfd_major = int(sysfs_dev.split(":")[0])
        no_kfd = "kfd" not in majors and not sysfs_dev
        self._node(facts, tally, KFD, kfd_major, 0 if kfd_major is not None else None,
                   "ROCm's compute interface", "kfd_missing_no_kfd" if no_kfd else "kfd_missing")
        for gpu in gpus:
            self._render_nodes(facts, tally, gpu.short_pci, gpu.render_nodes, gpu.driver)
        topology = facts.memo("kfd_topology", lambda: read_kfd_topology(facts.host))
        if topology is None:
            return
        listed = {node.render_minor for node in topology}
        for gpu in gpus:
            minor = render_minor(gpu.render)
            if minor is not None and minor not in listed:
                tally.found.say("kfd_unlisted", who=gpu.short_pci, minor=minor)
                tally.evidence.append(f"/sys/class/kfd/kfd/topology/nodes: no node has "
                                      f"drm_render_minor {minor}")

    def _nvidia(self, facts: Facts, tally: Tally) -> None:
        from gpudoctor.errors import HostError
        from gpudoctor.facts.gpus import nvidia_device_minor
        from gpudoctor.facts.system import char_majors

        loaded = "nvidia" in facts.modules
        uvm_major = char_majors(facts.host).get("nvidia-uvm")
        if not loaded:
            tally.evidence.append("/proc/modules: nvidia is not loaded, so no /dev/nvidia* can "
                                  "exist")
        wanted: list[tuple[str, int | None, int | None, str]] = []
        said = False
        for gpu in facts.gpus.by_vendor("nvidia"):
            minor = nvidia_device_minor(facts.host, gpu.pci)
            if minor is None:
                tally.evidence.append(f"/proc/driver/nvidia/gpus/{gpu.pci}/information: no "
                                      "Device Minor (driver not bound); its /dev/nvidiaN is "
                                      "unknown")
                if not loaded:
                    tally.found.say("unusable", who=gpu.short_pci)
                    said = True
                continue
            wanted.append((f"/dev/nvidia{minor}", NVIDIA_MAJOR, minor, f"GPU {gpu.short_pci}"))
        wanted.append(("/dev/nvidiactl", NVIDIA_MAJOR, NVIDIACTL_MINOR, "NVIDIA control device"))
        wanted.append((UVM, uvm_major, 0, "CUDA unified memory"))
        if not loaded:
            for path, _, _, _ in wanted:
                try:
                    exists = facts.host.device_node(path) is not None
                except HostError:
                    exists = False
                if exists:
                    tally.evidence.append(f"{path}: present but stale (nvidia is not loaded)")
            if not said:
                tally.found.say("unusable_all")
            return
        for path, major, minor, what in wanted:
            self._node(facts, tally, path, major, minor, what, "nvidia_node_missing")

