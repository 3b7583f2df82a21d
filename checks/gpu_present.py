"""gpu.present: a GPU for containers exists; each one found, classified and selected."""

from __future__ import annotations

from gpudoctor.facts import Facts
from gpudoctor.facts.gpus import Gpu
from gpudoctor.plugin import Area, Check, Result


def describe(gpu: Gpu) -> str:
    """One evidence line per GPU: what it is, why it is classified so, and whether chosen."""
    kind = "integrated" if gpu.integrated else "discrete"
    if gpu.vendor == "other":
        kind = "not a compute GPU"
    nodes = ", ".join(n for n in (gpu.card, gpu.render) if n) or "no DRM nodes"
    if gpu.extra_renders:
        nodes += (f" + {len(gpu.extra_renders)} partition render nodes "
                  f"({gpu.extra_renders[0]} .. {gpu.extra_renders[-1]})")
    if gpu.nodes_source == "by-path":
        nodes += " (from /dev/dri/by-path)"
    chosen = "selected" if gpu.selected else "not selected"
    gc = f", GC {'.'.join(map(str, gpu.gc_version))}" if gpu.gc_version else ""
    return (f"{gpu.pci} {gpu.vendor} {gpu.ids} class 0x{gpu.pci_class:06x}{gc} "
            f"{gpu.name or '(name not in pci.ids)'}: {kind} ({gpu.integrated_reason}); "
            f"driver {gpu.driver or 'none'}; {nodes}; {chosen}: {gpu.selection_reason}")


class GpuPresent(Check):
    id = "gpu.present"
    title = "A GPU for containers"
    area = Area.HARDWARE
    order = 10

    def run(self, facts: Facts) -> Result:
        inv = facts.gpus
        evidence = [describe(g) for g in inv.gpus] + inv.problems
        if inv.switches:
            evidence.append(f"{len(inv.switches)} NVSwitch(es) ({inv.switches[0].short_pci}"
                            + (", ..." if len(inv.switches) > 1 else "")
                            + "): NVLink switches, not GPUs; never selected")
        if inv.idle_partitions:
            evidence.append(f"{inv.idle_partitions} amdgpu_xcp partition render node(s) are "
                            "idle in the current compute mode (no KFD node): not passed")
        if not inv.sysfs_readable:
            return Result.error(
                "cannot list /sys/bus/pci/devices", evidence=evidence,
                details="The PCI bus is where every GPU appears; without it nothing can be "
                        "decided.",
                remedy="Run gpudoctor where /sys is mounted (not inside a restricted container).",
                findings=["gpu.present.sysfs_unreadable"])
        usable = [g for g in inv.gpus if g.vendor != "other"]
        if not usable and facts.wsl.is_wsl:
            from gpudoctor.checks.nvidia_wsl import present_on_wsl

            return present_on_wsl(facts, evidence)
        if not usable:
            others = [g for g in inv.gpus if g.vendor == "other"]
            seen = (f"Only {len(others)} display device{'' if len(others) == 1 else 's'} of "
                    "other vendors (a BMC's or a virtual machine's VGA) "
                    f"{'is' if len(others) == 1 else 'are'} on the PCI bus. " if others else
                    "No display or accelerator device is on the PCI bus. ")
            return Result.fail(
                "no AMD, NVIDIA or Intel GPU on this host", evidence=evidence,
                details=seen + "Containers can only be given a GPU the host has; checks below "
                        "that need one are skipped.",
                remedy="Check that the card is seated and powered, that the virtual machine "
                       "has the GPU passed through (VFIO), and look at `lspci -nn`.",
                commands=("lspci -nn",),
                findings=["gpu.present.none"])
        selected = inv.selected
        left_out = [g for g in usable if not g.selected]
        summary = (f"{len(usable)} GPU{'' if len(usable) == 1 else 's'} found; "
                   f"{len(selected)} selected: {_names(selected)}")
        details = ("Each GPU is classified integrated or discrete from what the kernel exposes "
                   "(board_info, the GC IP version, the PCI slot), never from its name. "
                   "Containers get every discrete GPU; integrated ones only when there is no "
                   "discrete GPU" + (", because ROCm can crash or pick the wrong device when an "
                                     "integrated GPU is visible beside a card."
                                     if any(g.vendor == "amd" for g in usable) else "."))
        if left_out:
            details += " Left out: " + "; ".join(f"{g.label} ({g.selection_reason})"
                                                 for g in left_out) + "."
        if not selected:
            return Result.fail("GPUs exist but none is selected", details=details,
                               evidence=evidence,
                               remedy="Choose one with --gpu PCI or add --include-integrated.",
                               findings=["gpu.present.none_selected"])
        if inv.problems:
            return Result.warn(
                summary + f"; {len(inv.problems)} odd sysfs entr"
                + ("y" if len(inv.problems) == 1 else "ies") + " skipped",
                details=details + " Some sysfs entries could not be read or made no sense; "
                "they are listed in the evidence and were left out.",
                evidence=evidence,
                remedy="Compare with `lspci -nnk`; a GPU missing from the list above cannot be "
                       "given to containers until sysfs shows it properly.",
                commands=("lspci -nnk",),
                findings=["gpu.present.odd_sysfs"])
        return Result.passed(summary, details=details, evidence=evidence)


def _names(gpus: list[Gpu]) -> str:
    """'07:00.0 Navi 33 [...]', or '8 x Aqua Vanjaram [Instinct MI300X] (05:00.0, ...)'."""
    groups: dict[str, list[str]] = {}
    for gpu in gpus:
        groups.setdefault(gpu.name or gpu.ids, []).append(gpu.short_pci)
    parts = []
    for name, where in groups.items():
        if len(where) == 1:
            parts.append(f"{where[0]} {name}")
        else:
            listed = ", ".join(where[:4]) + (", ..." if len(where) > 4 else "")
            parts.append(f"{len(where)} x {name} ({listed})")
    return "; ".join(parts)
