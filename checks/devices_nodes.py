"""devices.nodes: the device files containers need exist and are the right character devices.

AMD: /dev/kfd (dynamic major) and the render node(s) of every selected GPU (major 226, minor
as sysfs says). A missing render node makes ROCm skip that GPU silently; a missing /dev/kfd
stops ROCm entirely. NVIDIA: /dev/nvidiaN of each GPU and /dev/nvidiactl (major 195) and
/dev/nvidia-uvm (dynamic major). Intel: the render node.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from gpudoctor.errors import HostError
from gpudoctor.facts import Facts
from gpudoctor.facts.gpus import nvidia_device_minor, read_kfd_topology, render_minor
from gpudoctor.facts.runargs import KFD, describe_stat, node_stat, resolve_node
from gpudoctor.facts.system import char_majors
from gpudoctor.host.base import FileStat
from gpudoctor.pasteable import quoted_commands
from gpudoctor.plugin import Area, Check, Result, Status

DRM_MAJOR = 226
NVIDIA_MAJOR = 195
NVIDIACTL_MINOR = 255


@dataclass
class Tally:
    """Evidence and problems gathered across the vendors, with the worst status."""

    evidence: list[str] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    remedies: list[str] = field(default_factory=list)
    details: list[str] = field(default_factory=list)
    uncaptured: list[str] = field(default_factory=list)
    nodes: list[dict] = field(default_factory=list)

    def remedy(self, text: str) -> None:
        if text not in self.remedies:
            self.remedies.append(text)


class DevicesNodes(Check):
    id = "devices.nodes"
    title = "Device files for the selected GPUs"
    area = Area.DEVICES
    order = 40
    requires = ("gpu.present",)

    def applies(self, facts: Facts) -> str | None:
        if not [g for g in facts.gpus.selected if g.vendor in ("amd", "nvidia", "intel")]:
            return "no selected AMD, NVIDIA or Intel GPU needs device files"
        return None

    def run(self, facts: Facts) -> Result:
        tally = Tally()
        inv = facts.gpus
        amd = inv.by_vendor("amd")
        nvidia = inv.by_vendor("nvidia")
        intel = inv.by_vendor("intel")
        skipped = []
        if amd:
            self._amd(facts, tally)
        else:
            skipped.append("no AMD GPU selected: /dev/kfd and AMD render nodes not needed")
        if nvidia:
            self._nvidia(facts, tally)
        else:
            skipped.append("no NVIDIA GPU selected: /dev/nvidia* not needed")
        if intel:
            for gpu in intel:
                self._render_nodes(facts, tally, gpu.short_pci, gpu.render_nodes, gpu.driver)
        tally.evidence.extend(skipped)
        why = ("`docker run --device` copies a device file from the host into the container, "
               "so the host must have it, as a character device with the kernel's numbers: "
               "docker refuses a missing one (`error gathering device information while adding "
               "custom device`), and a node with stale numbers reaches the wrong device or "
               "none.")
        details = " ".join([*tally.details, why])
        if tally.failures:
            return Result(Status.FAIL, "; ".join(tally.failures), details=details,
                          evidence=tally.evidence, remedy="\n".join(tally.remedies),
                          commands=list(quoted_commands("\n".join(tally.remedies))),
                          findings=["devices.nodes.unusable"])
        if tally.warnings:
            uvm_only = all("/dev/nvidia-uvm" in w for w in tally.warnings)
            return Result(Status.WARN, "; ".join(tally.warnings), details=details,
                          evidence=tally.evidence, remedy="\n".join(tally.remedies),
                          cause="nvidia.uvm" if uvm_only and nvidia else None,
                          commands=list(quoted_commands("\n".join(tally.remedies))),
                          findings=["devices.nodes.kfd_unlisted"])
        if tally.uncaptured and not tally.nodes:
            return Result.skip("this root did not capture the device nodes ("
                               + ", ".join(tally.uncaptured) + ")", evidence=tally.evidence,
                               details=details)
        checked = [n["path"] for n in tally.nodes if n["ok"]]
        summary = (f"{len(checked)} device files present with the right numbers: "
                   + ", ".join(checked[:6]) + (" ..." if len(checked) > 6 else ""))
        return Result.passed(summary, details=details, evidence=tally.evidence)

    # ----- one node ---------------------------------------------------------------------------
    def _node(self, facts: Facts, tally: Tally, path: str, major: int | None,
              minor: int | None, what: str, missing_is_warning: bool = False) -> bool:
        """Check one device file; returns True when it is fine."""
        real = resolve_node(facts.host, path)
        try:
            st: FileStat | None = node_stat(facts, real)
        except HostError as exc:
            tally.failures.append(f"{path} cannot be examined ({exc.reason})")
            tally.evidence.append(f"{path}: {exc.reason}")
            return False
        shown = path if real == path else f"{path} -> {real}"
        group = facts.groups.name_of(st.gid) if st else None
        record = {"path": real, "what": what, "ok": False}
        if st is not None:
            record.update(kind=st.kind, major=st.major, minor=st.minor, mode=st.mode_octal,
                          gid=st.gid)
        if st is None:
            tally.evidence.append(f"{shown}: does not exist")
            (tally.warnings if missing_is_warning else tally.failures).append(
                f"{real} ({what}) is missing")
            tally.nodes.append(record)
            return False
        if not facts.host.live and st.kind == "file" and st.size == 0:
            tally.evidence.append(f"{shown}: an empty placeholder file; the root did not record "
                                  "its type and numbers")
            tally.uncaptured.append(real)
            return True
        tally.evidence.append(describe_stat(shown, st, group))
        if st.kind != "char":
            tally.failures.append(f"{real} ({what}) is a {st.kind}, not a character device")
            tally.remedy(f"Remove the impostor and let udev recreate it: `sudo rm {real}` then "
                         "`sudo udevadm trigger` (or reboot).")
            tally.nodes.append(record)
            return False
        wrong = []
        if major is not None and st.major != major:
            wrong.append(f"major {st.major}, expected {major}")
        if minor is not None and st.minor != minor:
            wrong.append(f"minor {st.minor}, expected {minor}")
        if wrong:
            tally.failures.append(f"{real} ({what}) has {' and '.join(wrong)}")
            tally.remedy(f"{real} was made by hand or is left from another boot; remove it and "
                         f"let udev recreate it: `sudo rm {real} && sudo udevadm trigger`.")
            tally.nodes.append(record)
            return False
        record["ok"] = True
        tally.nodes.append(record)
        return True

    # ----- vendors ----------------------------------------------------------------------------
    def _render_nodes(self, facts: Facts, tally: Tally, who: str, nodes: list[str],
                      driver: str | None) -> None:
        if not nodes:
            tally.failures.append(f"{who} has no render node")
            tally.evidence.append(f"{who}: sysfs lists no renderD* under its drm folder")
            tally.details.append("Without a render node a GPU cannot be handed to a container; "
                                 "the kernel creates it when the driver binds.")
            tally.remedy("Make the driver bind first (see kernel.driver); the render node "
                         "appears with it." if driver is None else
                         f"{driver} drives {who} but made no render node: read "
                         f"`sudo dmesg | grep -i {driver}` for an initialisation error.")
            return
        for node in nodes:
            # DRM names each node after its minor (renderD128 is 226:128)
            self._node(facts, tally, node, DRM_MAJOR, render_minor(node), f"render node of {who}")

    def _amd(self, facts: Facts, tally: Tally) -> None:
        gpus = facts.gpus.by_vendor("amd")
        majors = char_majors(facts.host)
        kfd_major = majors.get("kfd")
        sysfs_dev = facts.host.read_attr("/sys/class/kfd/kfd/dev")
        if sysfs_dev and sysfs_dev.split(":")[0].isdigit():
            kfd_major = int(sysfs_dev.split(":")[0])
        if not self._node(facts, tally, KFD, kfd_major, 0 if kfd_major is not None else None,
                          "ROCm's compute interface"):
            if "kfd" not in majors and not sysfs_dev:
                tally.details.append("The kernel has no kfd device at all: amdgpu is not "
                                     "loaded, or the kernel was built without CONFIG_HSA_AMD.")
            tally.remedy("/dev/kfd appears when amdgpu loads with KFD support: check "
                         "kernel.driver, then `sudo modprobe amdgpu`.")
        for gpu in gpus:
            self._render_nodes(facts, tally, gpu.short_pci, gpu.render_nodes, gpu.driver)
        topology = facts.memo("kfd_topology", lambda: read_kfd_topology(facts.host))
        if topology is None:
            return
        listed = {node.render_minor for node in topology}
        for gpu in gpus:
            minor = render_minor(gpu.render)
            if minor is not None and minor not in listed:
                tally.warnings.append(f"KFD lists no compute node for {gpu.short_pci} "
                                      f"(renderD{minor}): ROCm will not see it")
                tally.evidence.append(f"/sys/class/kfd/kfd/topology/nodes: no node has "
                                      f"drm_render_minor {minor}")
                tally.remedy("A GPU newer than the kernel's KFD gets no compute node (dmesg: "
                             "`GC IP ... not supported in kfd`): install a newer kernel or "
                             "amdgpu-dkms.")

    def _nvidia(self, facts: Facts, tally: Tally) -> None:
        loaded = "nvidia" in facts.modules
        majors = char_majors(facts.host)
        uvm_major = majors.get("nvidia-uvm")
        if not loaded:
            tally.evidence.append("/proc/modules: nvidia is not loaded, so no /dev/nvidia* can "
                                  "exist")
        wanted: list[tuple[str, int | None, int | None, str]] = []
        for gpu in facts.gpus.by_vendor("nvidia"):
            minor = nvidia_device_minor(facts.host, gpu.pci)
            if minor is None:
                tally.evidence.append(f"/proc/driver/nvidia/gpus/{gpu.pci}/information: no "
                                      "Device Minor (driver not bound); its /dev/nvidiaN is "
                                      "unknown")
                if not loaded:
                    tally.failures.append(f"{gpu.short_pci} has no /dev/nvidiaN: the nvidia "
                                          "driver is not loaded")
                continue
            wanted.append((f"/dev/nvidia{minor}", NVIDIA_MAJOR, minor, f"GPU {gpu.short_pci}"))
        wanted.append(("/dev/nvidiactl", NVIDIA_MAJOR, NVIDIACTL_MINOR, "NVIDIA control device"))
        wanted.append(("/dev/nvidia-uvm", uvm_major, 0, "CUDA unified memory"))
        if not loaded:
            tally.remedy("Load the nvidia driver first (see kernel.driver); its device files "
                         "follow.")
            for path, _, _, _ in wanted:
                try:
                    exists = facts.host.device_node(path) is not None
                except HostError:
                    exists = False
                if exists:
                    tally.evidence.append(f"{path}: present but stale (nvidia is not loaded)")
            if not tally.failures:
                tally.failures.append("the nvidia driver is not loaded, so /dev/nvidia* are "
                                      "missing")
            return
        missing_before = len(tally.warnings)
        for path, major, minor, what in wanted:
            self._node(facts, tally, path, major, minor, what, missing_is_warning=True)
        if len(tally.warnings) > missing_before:
            tally.details.append("The nvidia driver creates /dev/nvidia-uvm and /dev/nvidiactl "
                                 "only when something asks: the container toolkit usually does "
                                 "(load-kmods), but a CDI spec generated while they were absent "
                                 "leaves them out.")
            tally.remedy("Create them now: `sudo nvidia-modprobe -u -c=0` (or `sudo nvidia-ctk "
                         "system create-device-nodes --control-devices --load-kernel-modules`).")
