"""intel.driver: each Intel GPU is bound to a driver that supports it (i915 or xe).

Intel has two kernel drivers. i915 drives processor graphics and Arc Alchemist (by default
from Linux 6.2; before, only with `i915.force_probe=<id>`); xe drives Battlemage (by default
from 6.12) and Lunar Lake (6.11), which i915 does not support at all. A GPU whose driver
refuses it leaves no render node, so containers cannot have it, and the kernel log says why.
Which Level Zero / compute-runtime an image carries cannot be judged from the host: what the
host owes is the right driver and the render node (`--device` plus the render GID).
"""

from __future__ import annotations

from typing import Any

from gpudoctor.facts import Facts
from gpudoctor.facts.gpus import Gpu
from gpudoctor.facts.intel import (
    BATTLEMAGE,
    family,
    force_probe_lines,
    force_probe_param,
    intel_gpus,
    running_kernel,
)
from gpudoctor.facts.kernel_log import read_kernel_log
from gpudoctor.plugin import Area, Check, Findings, Result, Status


def _v(version: tuple[int, int] | None) -> str:
    return f"{version[0]}.{version[1]}" if version else "?"


def _grub(param: str) -> str:
    return (f"add `{param}` to GRUB_CMDLINE_LINUX in /etc/default/grub, run "
            "`sudo update-grub` and reboot")


class IntelDriver(Check):
    id = "intel.driver"
    title = "Intel GPUs on a driver that supports them (i915 or xe)"
    area = Area.KERNEL
    order = 35
    requires = ("gpu.present",)

    def applies(self, facts: Facts) -> str | None:
        if not intel_gpus(facts):
            return "no selected or discrete Intel GPU"
        return None

    def run(self, facts: Facts) -> Result:
        found = Findings()
        kernel = running_kernel(facts)
        log = read_kernel_log(facts)
        refusals = force_probe_lines(facts)
        found.evidence.append(f"running kernel {facts.kernel_release or '?'}")
        if log.source is None:
            found.evidence.append(f"kernel log not read ({log.problem})")
        for gpu in intel_gpus(facts):
            fam = family(gpu.device_id)
            kind = "integrated" if gpu.integrated else "discrete"
            state = (f"bound to {gpu.driver}" if gpu.driver else "no driver bound")
            sel = "selected" if gpu.selected else f"not selected ({gpu.selection_reason})"
            found.evidence.append(f"{gpu.short_pci} {gpu.ids} {fam.name}, {kind}, {state}, "
                                  f"{sel}; render node {gpu.render or 'none'}")
            self._judge(facts, found, gpu, fam, kernel, refusals)
        for driver in ("i915", "xe"):
            value = force_probe_param(facts, driver)
            if value:
                found.evidence.append(f"/sys/module/{driver}/parameters/force_probe: {value}")
        cards = [g for g in intel_gpus(facts) if g.selected and g.render]
        summary = "; ".join(f"{g.short_pci} ({family(g.device_id).name}) on {g.driver}"
                            for g in cards) or "no Intel GPU needs a driver here"
        result = found.result(
            summary + (", render node passed with --device" if cards else ""),
            "Containers reach an Intel GPU through its render node, which exists only while "
            "i915 or xe drives it; the image's Level Zero / compute-runtime must be new enough "
            "for the GPU, which cannot be judged from the host.")
        return result

    def _judge(self, facts: Facts, found: Findings, gpu: Gpu, fam: Any, kernel: Any,
               refusals: Any) -> None:
        who = f"{gpu.short_pci} ({gpu.name or gpu.ids})"
        dev = f"{gpu.device_id:04x}"
        mine = [r for r in refusals if r.device_id == gpu.device_id]
        found.evidence += [f"kernel: {r.line[:300]}" for r in mine]
        if gpu.driver == "i915" and fam.i915_since is None:
            swap = f"i915.force_probe=!{dev} xe.force_probe={dev}"
            xe_ok = fam.xe_since is not None and kernel is not None and kernel >= fam.xe_since
            found.add(Status.FAIL, f"{who} is an {fam.name} GPU bound to i915, which does not "
                      "support it", f"i915 has no support for {fam.name}; only xe does (by "
                      f"default from Linux {_v(fam.xe_since)}). An i915 from a backports "
                      "package (intel-i915-dkms) binding it gives no working compute "
                      "(intel/intel-gpu-i915-backports#209).",
                      ("Let xe drive it: remove the backported i915 (`sudo apt remove "
                       "intel-i915-dkms`) and reboot" if xe_ok else
                       f"Boot a kernel {_v(fam.xe_since)} or newer (its xe drives the GPU), "
                       "remove the backported i915 (`sudo apt remove intel-i915-dkms`) and "
                       "reboot")
                      + f"; if i915 still claims it, {_grub(swap)}.",
                      id=f"{self.id}.{'battlemage' if fam is BATTLEMAGE else 'xe_only'}_on_i915",
                      commands=("sudo apt remove intel-i915-dkms",))
            return
        if gpu.driver in ("i915", "xe"):
            return
        if gpu.driver is not None:
            return  # another driver (vfio-pci...): kernel.driver explains that
        if mine:
            driver = mine[-1].driver
            param = (f"{driver}.force_probe={dev}" if driver == "i915"
                     else f"i915.force_probe=!{dev} xe.force_probe={dev}")
            newer = fam.i915_since if driver == "i915" else fam.xe_since
            found.add(Status.FAIL, f"{driver} refused {who}: this kernel needs force_probe "
                      "for it", f"{driver} in kernel {facts.kernel_release or '?'} knows the "
                      f"GPU only as experimental and did not bind it (the kernel log says so"
                      f"), so it has no render node." + (f" From Linux {_v(newer)} it binds "
                      "without force_probe." if newer else ""),
                      "Recommended: a newer kernel"
                      + (f" ({_v(newer)} or later)" if newer else "")
                      + f". Or force it: {_grub(param)} (or `options {driver} force_probe="
                      f"{dev}` in /etc/modprobe.d/{driver}.conf, then `sudo update-initramfs "
                      "-u`).", id=f"{self.id}.force_probe_needed")
            return
        needed = fam.xe_since if fam.i915_since is None else fam.i915_since
        if needed is not None and kernel is not None and kernel < needed:
            found.add(Status.FAIL, f"kernel {facts.kernel_release} is too old for {who}",
                      f"{fam.name} needs Linux {_v(needed)} or newer"
                      + (" (xe)" if fam.i915_since is None else " (i915)")
                      + "; this kernel leaves it without a driver and render node.",
                      f"Install a kernel {_v(needed)} or newer (e.g. Ubuntu's HWE kernel: "
                      "`sudo apt install linux-generic-hwe-24.04`) and reboot.",
                      id=f"{self.id}.kernel_too_old")
