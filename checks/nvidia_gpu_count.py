"""nvidia.gpu_count: every NVIDIA GPU on the PCI bus is initialised by the driver and listed by
nvidia-smi.

A GPU the driver dropped (it fell off the bus, failed to initialise, or was excluded) still
sits on the PCI bus, so `--gpus all` silently gives containers fewer GPUs and multi-GPU jobs
fail or hang. Three counts tell it: NVIDIA GPUs on the PCI bus, GPUs in
/proc/driver/nvidia/gpus, and GPUs `nvidia-smi -L` lists (recorded as `nvidia-smi-L`).
"""

from __future__ import annotations

import re

from gpudoctor import TYPE_CHECKING
from gpudoctor.plugin import Area, Check, Result, Say, Sentences, Status

if TYPE_CHECKING:
    from gpudoctor.facts import Facts

ID = "nvidia.gpu_count"
_HANDLE = re.compile(r"device handle for GPU\s*([0-9a-fA-F]{4,8}:[0-9a-fA-F]{2}:[0-9a-fA-F]{2}"
                     r"\.[0-7])")
WHY = ("`--gpus all` gives a container the GPUs the driver initialised; a GPU on the PCI bus "
       "that the driver dropped is silently missing from every container, and multi-GPU jobs "
       "that expect it fail or hang.")
JOURNAL = "sudo journalctl -k -b | grep -i NVRM"

SENTENCES = Sentences(ID, {
    "ok": Say(Status.PASS, "{bus} NVIDIA GPU(s) on the PCI bus, {known} initialised by the "
              "driver, {listed} listed by nvidia-smi", WHY),
    "ok_not_listed": Say(Status.PASS, "{bus} NVIDIA GPU(s) on the PCI bus, {known} initialised "
                         "by the driver", WHY),
    "driver_dropped": Say(
        Status.FAIL, "the driver dropped {count} of {bus} NVIDIA GPU(s): {gpus}",
        WHY + " The GPU is on the PCI bus but missing from /proc/driver/nvidia/gpus: it fell "
        "off the bus, failed to initialise (kernel log: RmInitAdapter failed) or was excluded "
        "(NVreg_ExcludedGpus).",
        f"Read the kernel log (`{JOURNAL}`, see kernel.log), then reboot; a GPU that drops "
        "again needs its power, seating and cooling checked.", commands=(JOURNAL,)),
    "nvidia_smi_missing": Say(
        Status.FAIL, "nvidia-smi does not list {count} GPU(s) the driver initialised: {gpus}",
        WHY + " NVML cannot talk to these GPUs although the driver initialised them: the GPU "
        "stopped responding after boot.",
        "Read the kernel log for Xid errors (see kernel.log); reset the GPU (`sudo nvidia-smi "
        "-r -i <index>` when nothing uses it) or reboot.", commands=(JOURNAL,)),
    "nvidia_smi_fails": Say(
        Status.FAIL, "nvidia-smi fails: {error}",
        WHY + " nvidia-smi uses NVML, as the container toolkit does.",
        "Read the kernel log (see kernel.log); reboot if a GPU stopped answering.",
        commands=(JOURNAL,)),
    "see_cause": Say(Status.FAIL, "not every NVIDIA GPU is usable: see {cause}", WHY),
})


def _short(pci: str) -> str:
    """'00000000:18:00.0' or '0000:18:00.0' -> '0000:18:00.0'."""
    domain, _, rest = pci.partition(":")
    return f"{int(domain, 16):04x}:{rest.lower()}"


class NvidiaGpuCount(Check):
    id = ID
    title = "Every NVIDIA GPU is initialised by the driver and seen by nvidia-smi"
    area = Area.KERNEL
    order = 60
    sentences = SENTENCES

    def applies(self, facts: Facts) -> str | None:
        from gpudoctor.facts.applies import not_an_nvidia_host

        reason = not_an_nvidia_host(facts)
        if reason:
            return reason
        if not facts.gpus.by_vendor("nvidia", selected_only=False):
            return "no NVIDIA GPU on the PCI bus"
        if not facts.nvidia_driver.loaded:
            return "the nvidia kernel module is not loaded (see kernel.driver)"
        return None

    def run(self, facts: Facts) -> Result:
        from gpudoctor.facts.nvidia_driver import wrong_flavour_gpus

        bus = facts.gpus.by_vendor("nvidia", selected_only=False)
        driver = facts.nvidia_driver
        found = self.findings()
        ev = found.evidence
        known = {g.pci for g in driver.gpus}
        ev.append(f"PCI bus: {len(bus)} NVIDIA GPU(s): "
                  + ", ".join(g.short_pci for g in bus[:8]) + (" ..." if len(bus) > 8 else ""))
        ev.append(f"/proc/driver/nvidia/gpus: {len(known)} GPU(s) initialised by the driver")
        procs = facts.host.processes()
        if procs is not None:
            daemon = next((p for p in procs if p.name == "nvidia-persistenced"), None)
            ev.append("nvidia-persistenced: " + (f"running (pid {daemon.pid})" if daemon else
                                                 "not running (GPU state is set up for each "
                                                 "first client)"))
        elsewhere = [g for g in bus if g.pci not in known
                     and g.driver not in (None, "nvidia", "vfio-pci")]
        passed_through = [g for g in bus if g.driver == "vfio-pci"]
        if passed_through:
            ev.append("reserved for virtual machines (vfio-pci), not counted: "
                      + ", ".join(g.short_pci for g in passed_through))
            bus = [g for g in bus if g.driver != "vfio-pci"]
        _, flavour_gpus = wrong_flavour_gpus(facts)
        wrong = {g.pci for g in flavour_gpus}
        dropped = [g for g in bus if g.pci not in known and g.driver in (None, "nvidia")
                   and g.pci not in wrong]
        causes: list[str] = []
        if elsewhere:
            causes.append("kernel.driver")
            ev.append("not driven by nvidia (see kernel.driver): "
                      + ", ".join(f"{g.short_pci} ({g.driver})" for g in elsewhere))
        if wrong:
            causes.append("nvidia.open_modules")
            ev.append("refused by this module flavour (see nvidia.open_modules): "
                      + ", ".join(sorted(wrong)))
        if dropped:
            found.say("driver_dropped", count=len(dropped), bus=len(bus),
                      gpus=", ".join(g.pci for g in dropped))
        smi = facts.nvidia_smi_list
        if smi.ok:
            ev.append(f"nvidia-smi -L: {len(smi.lines)} GPU(s)")
            by_uuid = {g.uuid: g.pci for g in driver.gpus if g.uuid and not g.excluded}
            excluded = [g.pci for g in driver.gpus if g.excluded]
            if excluded:
                ev.append("excluded from NVML on purpose (GPU Excluded: Yes, NVreg_ExcludedGpus):"
                          " " + ", ".join(excluded))
            unlisted = sorted(pci for uuid, pci in by_uuid.items() if uuid not in smi.uuids)
            if unlisted and set(unlisted) <= wrong:
                unlisted = []
            if unlisted:
                found.say("nvidia_smi_missing", count=len(unlisted), gpus=", ".join(unlisted))
        elif smi.ran:
            ev.append(f"nvidia-smi -L: {smi.error}")
            handles = sorted({_short(m.group(1)) for m in _HANDLE.finditer(smi.error)})
            from gpudoctor.facts.nvidia_driver import version_mismatch

            if version_mismatch(driver) and "mismatch" in smi.error.lower():
                causes.append("nvidia.driver_mismatch")
            elif wrong and known <= wrong:
                pass  # every GPU NVML could list is refused by the module: nvidia.open_modules
            else:
                found.say("nvidia_smi_fails", error=smi.error)
                if handles:
                    found.evidence.append("nvidia-smi cannot reach: " + ", ".join(handles))
        else:
            ev.append("nvidia-smi -L: not run (nvidia-smi is not installed, or this root did "
                      "not record it)")
        counts = {"bus": len(bus), "known": len(known), "listed": len(smi.lines)}
        if not found.items and causes:
            found.say("see_cause", cause=causes[0])
            result = found.verdict("ok", **counts)
            result.cause = causes[0]
            return result
        return found.verdict("ok" if smi.ok else "ok_not_listed", **counts)
