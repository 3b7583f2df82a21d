"""intel.driver: each Intel GPU is bound to a driver that supports it (i915 or xe).

Intel has two kernel drivers. i915 drives processor graphics and Arc Alchemist (by default
from Linux 6.2; before, only with `i915.force_probe=<id>`); xe drives Battlemage (by default
from 6.12) and Lunar Lake (6.11), which i915 does not support at all. A GPU whose driver
refuses it leaves no render node, so containers cannot have it, and the kernel log says why.
Which Level Zero / compute-runtime an image carries cannot be judged from the host: what the
host owes is the right driver and the render node (`--device` plus the render GID).
"""

from __future__ import annotations

from gpudoctor import TYPE_CHECKING
from gpudoctor.plugin import Area, Check, Findings, Result, Say, Sentences, Status

if TYPE_CHECKING:
    from typing import Any

    from gpudoctor.facts import Facts
    from gpudoctor.facts.gpus import Gpu

ID = "intel.driver"
REMOVE_BACKPORT = "sudo apt remove intel-i915-dkms"
GRUB = ("add `{param}` to GRUB_CMDLINE_LINUX in /etc/default/grub, run `sudo update-grub` and "
        "reboot")
_ON_I915 = "{who} is an {family} GPU bound to i915, which does not support it"
_ON_I915_WHY = ("i915 has no support for {family}; only xe does (by default from Linux "
                "{xe_since}). An i915 from a backports package (intel-i915-dkms) binding it gives "
                "no working compute (intel/intel-gpu-i915-backports#209).")
#: The kernel's xe already drives the GPU once the backported i915 is gone.
_LET_XE = (f"Let xe drive it: remove the backported i915 (`{REMOVE_BACKPORT}`) and reboot; if "
           f"i915 still claims it, {GRUB}.")
#: The kernel's xe is too old for the GPU.
_NEWER_XE = (f"Boot a kernel {{xe_since}} or newer (its xe drives the GPU), remove the "
             f"backported i915 (`{REMOVE_BACKPORT}`) and reboot; if i915 still claims it, {GRUB}.")
_FORCE = ("Or force it: " + GRUB + " (or `options {driver} force_probe={dev}` in "
          "/etc/modprobe.d/{driver}.conf, then `sudo update-initramfs -u`).")
_REFUSED = "{driver} refused {who}: this kernel needs force_probe for it"
_REFUSED_WHY = ("{driver} in kernel {release} knows the GPU only as experimental and did not "
                "bind it (the kernel log says so), so it has no render node.")
_PASS_WHY = ("Containers reach an Intel GPU through its render node, which exists only while "
             "i915 or xe drives it; the image's Level Zero / compute-runtime must be new enough "
             "for the GPU, which cannot be judged from the host.")


def _on_i915(key: str) -> dict[str, Say]:
    """An xe-only GPU on i915: the remedy depends on whether this kernel's xe drives it."""
    return {
        key: Say(Status.FAIL, _ON_I915, _ON_I915_WHY, _LET_XE, commands=(REMOVE_BACKPORT,)),
        key + "_old_kernel": Say(Status.FAIL, _ON_I915, _ON_I915_WHY, _NEWER_XE,
                                 commands=(REMOVE_BACKPORT,), finding=key),
    }


SENTENCES = Sentences(ID, {
    **_on_i915("battlemage_on_i915"),
    **_on_i915("xe_only_on_i915"),
    "force_probe_needed": Say(
        Status.FAIL, _REFUSED,
        _REFUSED_WHY + " From Linux {newer} it binds without force_probe.",
        "Recommended: a newer kernel ({newer} or later). " + _FORCE),
    "force_probe_needed_no_newer": Say(
        Status.FAIL, _REFUSED, _REFUSED_WHY, "Recommended: a newer kernel. " + _FORCE,
        finding="force_probe_needed"),
    "kernel_too_old": Say(
        Status.FAIL, "kernel {release} is too old for {who}",
        "{family} needs Linux {needed} or newer ({driver}); this kernel leaves it without a "
        "driver and render node.",
        "Install a kernel {needed} or newer (e.g. Ubuntu's HWE kernel: `sudo apt install "
        "linux-generic-hwe-24.04`) and reboot."),
    "ok": Say(Status.PASS, "{cards}, render node passed with --device", _PASS_WHY),
    "ok_no_card": Say(Status.PASS, "no Intel GPU needs a driver here", _PASS_WHY),
})


def _v(version: tuple[int, int] | None) -> str:
    return f"{version[0]}.{version[1]}" if version else "?"


class IntelDriver(Check):
    id = ID
    title = "Intel GPUs on a driver that supports them (i915 or xe)"
    area = Area.KERNEL
    order = 35
    requires = ("gpu.present",)
    sentences = SENTENCES

    def applies(self, facts: Facts) -> str | None:
        from gpudoctor.facts.intel import intel_gpus

        if not intel_gpus(facts):
            return "no selected or discrete Intel GPU"
        return None

    def run(self, facts: Facts) -> Result:
        from gpudoctor.facts.intel import (
            family,
            force_probe_lines,
            force_probe_param,
            intel_gpus,
            running_kernel,
        )
        from gpudoctor.facts.kernel_log import read_kernel_log

        found = self.findings()
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
        listed = "; ".join(f"{g.short_pci} ({family(g.device_id).name}) on {g.driver}"
                           for g in cards)
        return found.verdict("ok" if cards else "ok_no_card", cards=listed)

    def _judge(self, facts: Facts, found: Findings, gpu: Gpu, fam: Any, kernel: Any,
               refusals: Any) -> None:
        from gpudoctor.facts.intel import BATTLEMAGE

        dev = f"{gpu.device_id:04x}"
        values = {"who": f"{gpu.short_pci} ({gpu.name or gpu.ids})", "dev": dev,
                  "family": fam.name, "release": facts.kernel_release or "?",
                  "xe_since": _v(fam.xe_since)}
        mine = [r for r in refusals if r.device_id == gpu.device_id]
        found.evidence += [f"kernel: {r.line[:300]}" for r in mine]
        if gpu.driver == "i915" and fam.i915_since is None:
            xe_ok = fam.xe_since is not None and kernel is not None and kernel >= fam.xe_since
            key = "battlemage_on_i915" if fam is BATTLEMAGE else "xe_only_on_i915"
            found.say(key if xe_ok else key + "_old_kernel", **values,
                      param=f"i915.force_probe=!{dev} xe.force_probe={dev}")
            return
        if gpu.driver is not None:
            # i915 or xe on a GPU they support; another driver (vfio-pci...): kernel.driver
            return
        if mine:
            driver = mine[-1].driver
            param = (f"{driver}.force_probe={dev}" if driver == "i915"
                     else f"i915.force_probe=!{dev} xe.force_probe={dev}")
            newer = fam.i915_since if driver == "i915" else fam.xe_since
            found.say("force_probe_needed" if newer else "force_probe_needed_no_newer",
                      **values, driver=driver, param=param, newer=_v(newer))
            return
        needed = fam.xe_since if fam.i915_since is None else fam.i915_since
        if needed is not None and kernel is not None and kernel < needed:
            found.say("kernel_too_old", **values, needed=_v(needed),
                      driver="xe" if fam.i915_since is None else "i915")
