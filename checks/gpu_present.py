"""gpu.present: a GPU for containers exists; each one found, classified and selected."""

from __future__ import annotations

from gpudoctor import TYPE_CHECKING
from gpudoctor.plugin import Area, Check, Result, Say, Sentences, Status

if TYPE_CHECKING:
    from typing import Any

    from gpudoctor.facts import Facts
    from gpudoctor.facts.gpus import Gpu

ID = "gpu.present"
_POLICY = ("Each GPU is classified integrated or discrete from what the kernel exposes "
           "(board_info, the GC IP version, the PCI slot), never from its name. Containers get "
           "every discrete GPU; integrated ones only when there is no discrete GPU")
#: Why integrated GPUs are left out, said where an AMD GPU is found (ROCm's reason).
_ROCM = ", because ROCm can crash or pick the wrong device when an integrated GPU is visible " \
        "beside a card."
_LEFT_OUT = " Left out: {left_out}."
_ODD = (" Some sysfs entries could not be read or made no sense; they are listed in the "
        "evidence and were left out.")
_NONE = "no AMD, NVIDIA or Intel GPU on this host"
_NONE_WHY = ("Containers can only be given a GPU the host has; checks below that need one are "
             "skipped.")
_NONE_REMEDY = ("Check that the card is seated and powered, that the virtual machine has the "
                "GPU passed through (VFIO), and look at `lspci -nn`.")
_SELECTED = "{gpus} found; {selected} selected: {names}"


def _rows(rocm: bool) -> dict[str, Say]:
    """The rows whose details say the selection policy, with or without ROCm's reason."""
    policy = _POLICY + (_ROCM if rocm else ".") + _LEFT_OUT
    suffix = "_rocm" if rocm else ""
    return {
        "ok" + suffix: Say(Status.PASS, _SELECTED, policy),
        "none_selected" + suffix: Say(
            Status.FAIL, "GPUs exist but none is selected", policy,
            "Choose one with --gpu PCI or add --include-integrated.",
            finding="" if not rocm else "none_selected"),
        "odd_sysfs" + suffix: Say(
            Status.WARN, _SELECTED + "; {odd} skipped", policy + _ODD,
            "Compare with `lspci -nnk`; a GPU missing from the list above cannot be given to "
            "containers until sysfs shows it properly.", commands=("lspci -nnk",),
            finding="" if not rocm else "odd_sysfs"),
    }


SENTENCES = Sentences(ID, {
    "sysfs_unreadable": Say(
        Status.ERROR, "cannot list {pci_bus}",
        "The PCI bus is where every GPU appears; without it nothing can be decided.",
        "Run gpudoctor where /sys is mounted (not inside a restricted container)."),
    "none": Say(Status.FAIL, _NONE,
                "No display or accelerator device is on the PCI bus. " + _NONE_WHY,
                _NONE_REMEDY, commands=("lspci -nn",)),
    "none_other_vendors": Say(
        Status.FAIL, _NONE,
        "The PCI bus has only {others} of other vendors (a BMC's or a virtual machine's "
        "VGA). " + _NONE_WHY, _NONE_REMEDY, commands=("lspci -nn",), finding="none"),
    "wsl2": Say(Status.PASS,
                "WSL2: the GPU is paravirtualised through /dev/dxg (no PCI GPU, by design)",
                "Under WSL2 the Windows driver supplies the GPU; nvidia.wsl judges it."),
    "wsl_no_gpu": Say(Status.FAIL, "WSL without a usable GPU (see nvidia.wsl)",
                      "WSL has no PCI GPU; its GPU comes through /dev/dxg under WSL2 only."),
    **_rows(rocm=False),
    **_rows(rocm=True),
})


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


def _count(n: int, one: str, many: str) -> str:
    return f"{n} {one if n == 1 else many}"


class GpuPresent(Check):
    id = ID
    title = "A GPU for containers"
    area = Area.HARDWARE
    order = 10
    sentences = SENTENCES

    def run(self, facts: Facts) -> Result:
        inv = facts.gpus
        found = self.findings([describe(g) for g in inv.gpus] + inv.problems)
        evidence = found.evidence
        if inv.switches:
            evidence.append(f"{len(inv.switches)} NVSwitch(es) ({inv.switches[0].short_pci}"
                            + (", ..." if len(inv.switches) > 1 else "")
                            + "): NVLink switches, not GPUs; never selected")
        if inv.idle_partitions:
            evidence.append(f"{inv.idle_partitions} amdgpu_xcp partition render node(s) are "
                            "idle in the current compute mode (no KFD node): not passed")
        if not inv.sysfs_readable:
            found.say("sysfs_unreadable", pci_bus="/sys/bus/pci/devices")
            return found.verdict("ok")
        usable = [g for g in inv.gpus if g.vendor != "other"]
        if not usable and facts.wsl.is_wsl:
            # no GPU is on the PCI bus under WSL by design: nvidia.wsl judges /dev/dxg
            wsl = facts.wsl
            evidence += wsl.evidence
            if wsl.version == 2 and wsl.dxg:
                return found.verdict("wsl2")
            found.say("wsl_no_gpu")
            result = found.verdict("wsl2")
            result.cause = "nvidia.wsl"
            return result
        if not usable:
            others = [g for g in inv.gpus if g.vendor == "other"]
            if others:
                found.say("none_other_vendors",
                          others=_count(len(others), "display device", "display devices"))
            else:
                found.say("none")
            return found.verdict("ok")
        # --gpu may name a BMC's VGA: chosen, but nothing a container can compute on
        selected = [g for g in inv.selected if g.vendor != "other"]
        left_out = [g for g in usable if not g.selected]
        suffix = "_rocm" if any(g.vendor == "amd" for g in usable) else ""
        values: dict[str, Any] = {
            "gpus": _count(len(usable), "GPU", "GPUs"), "selected": len(selected),
            "names": _names(selected),
            "left_out": "; ".join(f"{g.label} ({g.selection_reason})" for g in left_out)
            or "none",
            "odd": _count(len(inv.problems), "odd sysfs entry", "odd sysfs entries"),
        }
        if not selected:
            found.say("none_selected" + suffix, **values)
        elif inv.problems:
            found.say("odd_sysfs" + suffix, **values)
        return found.verdict("ok" + suffix, **values)


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
