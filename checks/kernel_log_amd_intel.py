"""kernel.amd_intel_log: what amdgpu, KFD, i915 and xe said in this boot's kernel log.

The kernel log is the only place several container failures are explained: a GPU newer than
the kernel's KFD (`GC IP 0b0500 not supported in kfd`: no compute node, ROCm sees nothing),
firmware missing from linux-firmware or the initramfs (`Direct firmware load for
amdgpu/psp_14_0_3_sos.bin failed with error -2`, then `Fatal error during GPU init`), and GPU
hangs (`ring gfx_0.0.0 timeout`, `GPU reset begin!`, i915's `GPU HANG`). The log is read once
(facts/kernel_log.py) and shared with the NVIDIA checks; the patterns here are AMD's and
Intel's. i915/xe refusing a GPU for want of force_probe is intel.driver's to explain.
"""

from __future__ import annotations

import re

from gpudoctor import TYPE_CHECKING
from gpudoctor.plugin import Area, Check, Result, Say, Sentences, Status

if TYPE_CHECKING:
    from gpudoctor.facts import Facts

ID = "kernel.amd_intel_log"
_FIRMWARE_PKG = "sudo apt install --only-upgrade linux-firmware && sudo update-initramfs -u"
#: What each finding looks like in the kernel log; a line counts for the first that matches.
PATTERNS = (
    ("kfd_unsupported", re.compile(r"GC IP [0-9a-f]+ .*not supported in kfd", re.I)),
    ("firmware_missing",
     re.compile(r"Direct firmware load for (?:amdgpu|i915|xe)/\S+ failed with error -?\d+")),
    ("init_failed",
     re.compile(r"amdgpu.*Fatal error during GPU init|amdgpu: probe of .* failed", re.I)),
    ("gpu_reset",
     re.compile(r"ring \S+ timeout|GPU reset begin|GPU reset\(\d+\) (?:succeeded|failed)"
                r"|\[drm\] \*ERROR\* .*(?:GPU HANG|hang)|GPU HANG: ecode|GT\d+: reset", re.I)),
)
_ROWS = {
    "kfd_unsupported": Say(
        Status.FAIL, "KFD does not support this GPU in the running kernel (`not supported in "
        "kfd`)",
        "amdgpu drives the display but KFD created no compute node for the GPU, so ROCm in any "
        "container finds no GPU (`no ROCm-capable device is detected`).",
        "Boot a newer kernel (or install amdgpu-dkms from a ROCm release that supports the "
        "GPU)."),
    "firmware_missing": Say(
        Status.FAIL, "the GPU driver could not load its firmware",
        "Without its firmware files the GPU does not finish initialising (amdgpu: `Fatal error "
        "during GPU init`), so no render node or compute node appears. The files come from "
        "linux-firmware and must also be in the initramfs.",
        "Update linux-firmware and rebuild the initramfs, then reboot.",
        commands=(_FIRMWARE_PKG, "sudo reboot")),
    "init_failed": Say(
        Status.FAIL, "amdgpu failed to initialise a GPU",
        "The GPU has no usable driver instance: no render node, no compute node.",
        "Read the lines before it (`sudo journalctl -k -b | grep -i amdgpu`) for the cause "
        "(firmware, an unsupported GPU, a kernel parameter)."),
    "gpu_reset": Say(
        Status.WARN, "the GPU hung and was reset during this boot",
        "A hang kills every process using the GPU at that moment, containers included; "
        "repeated ones point at a driver/firmware mismatch, power or cooling, or a workload the "
        "GPU does not support (an HSA_OVERRIDE_GFX_VERSION on an iGPU can hang it).",
        "If it repeats, update the kernel and linux-firmware, and remove any "
        "HSA_OVERRIDE_GFX_VERSION for GPUs it does not fit."),
}
SENTENCES = Sentences(ID, {
    "ok": Say(Status.PASS, "no amdgpu, KFD, i915 or xe errors in this boot's kernel log",
              "Checked for KFD refusing a GPU, firmware load failures, failed initialisation, "
              "and GPU hangs and resets."),
    "no_log": Say(Status.SKIP, "the kernel log could not be read ({problem})"),
    **_ROWS,
    # the same finding seen more than once says how often
    **{f"{key}_repeated": Say(row.status, row.summary + " ({count} times)", row.details,
                              row.remedy, commands=row.commands, finding=key)
       for key, row in _ROWS.items()},
})


class KernelAmdIntelLog(Check):
    id = ID
    title = "Kernel log of amdgpu, KFD, i915 and xe"
    area = Area.KERNEL
    order = 60
    requires = ("gpu.present",)
    sentences = SENTENCES

    def applies(self, facts: Facts) -> str | None:
        if not [g for g in facts.gpus.selected if g.vendor in ("amd", "intel")]:
            return "no selected AMD or Intel GPU"
        return None

    def run(self, facts: Facts) -> Result:
        from gpudoctor.facts.kernel_log import read_kernel_log

        log = read_kernel_log(facts)
        if log.source is None:
            return self.findings([log.problem]).verdict("no_log", problem=log.problem)
        found = self.findings()
        found.evidence.append(f"read {len(log.lines)} lines of this boot's kernel log "
                              f"(`{log.source}`)")
        hits: dict[str, list[str]] = {}
        for line in log.lines:
            for key, pattern in PATTERNS:
                if pattern.search(line):
                    hits.setdefault(key, []).append(line.strip())
                    break
        for key, _ in PATTERNS:
            lines = hits.get(key)
            if not lines:
                continue
            found.evidence += [f"kernel: {ln[:300]}" for ln in lines[:5]]
            if len(lines) > 5:
                found.evidence.append(f"... and {len(lines) - 5} more such lines")
            found.say(key if len(lines) == 1 else f"{key}_repeated", count=len(lines))
        return found.verdict("ok")
