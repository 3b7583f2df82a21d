"""gpu.present: a GPU for containers exists; each one found, classified and selected."""

from __future__ import annotations

from gpudoctor.facts import Facts
from gpudoctor.plugin import Area, Check, Result


def describe(gpu) -> str:
    kind = "integrated" if gpu.integrated else "discrete"
    nodes = ", ".join(n for n in (gpu.card, gpu.render) if n) or "no DRM nodes"
    chosen = "selected" if gpu.selected else "not selected"
    return (f"{gpu.pci} {gpu.vendor} {gpu.vendor_id:04x}:{gpu.device_id:04x} "
            f"{gpu.name or '(name not in pci.ids)'}: {kind} ({gpu.integrated_reason}); "
            f"driver {gpu.driver or 'none'}; {nodes}; {chosen}: {gpu.selection_reason}")


class GpuPresent(Check):
    id = "gpu.present"
    title = "A GPU for containers"
    area = Area.HARDWARE

    def run(self, facts: Facts) -> Result:
        inv = facts.gpus
        evidence = [describe(g) for g in inv.gpus] + inv.problems
        if not inv.sysfs_readable:
            return Result.error(
                "cannot list /sys/bus/pci/devices", evidence=evidence,
                details="The PCI bus is where every GPU appears; without it nothing can be "
                        "decided.",
                remedy="Run gpudoctor where /sys is mounted (not inside a restricted container).")
        usable = [g for g in inv.gpus if g.vendor != "other"]
        if not usable:
            others = [g for g in inv.gpus if g.vendor == "other"]
            seen = (f"Only {len(others)} display device(s) of other vendors (a BMC's or a "
                    "virtual machine's VGA) are on the PCI bus. " if others else
                    "No display or accelerator device is on the PCI bus. ")
            return Result.fail(
                "no AMD, NVIDIA or Intel GPU on this host", evidence=evidence,
                details=seen + "Containers can only be given a GPU the host has; checks below "
                        "that need one are skipped.",
                remedy="Check that the card is seated and powered, that the virtual machine "
                       "has the GPU passed through (VFIO), and look at `lspci -nn`.")
        selected = inv.selected
        names = ", ".join(g.label for g in selected)
        left_out = [g for g in usable if not g.selected]
        summary = f"{len(usable)} GPU(s) found; {len(selected)} selected: {names}"
        details = ("Each GPU is classified integrated or discrete from what the kernel exposes "
                   "(board_info, the GC IP version, the PCI slot), never from its name. "
                   "Containers get every discrete GPU; integrated ones only when there is no "
                   "discrete GPU, because ROCm can crash or pick the wrong device when an "
                   "integrated GPU is visible beside a card.")
        if left_out:
            details += " Left out: " + "; ".join(f"{g.label} ({g.selection_reason})"
                                                 for g in left_out) + "."
        if not selected:
            return Result.fail("GPUs exist but none is selected", details=details,
                               evidence=evidence,
                               remedy="Choose one with --gpu PCI or add --include-integrated.")
        return Result.passed(summary, details=details, evidence=evidence,
                             data={"selected": [g.pci for g in selected]})
