"""nvidia.uvm: the CUDA unified-memory module (nvidia_uvm) is loaded and /dev/nvidia-uvm exists.

Without them CUDA in a container reports "no CUDA-capable device is detected" although
nvidia-smi lists every GPU. It matters most where nothing loads the module on demand: CDI mode
and `load-kmods = false` in the toolkit's config.toml.
"""

from __future__ import annotations

from gpudoctor.facts import Facts
from gpudoctor.facts.nvidia_driver import loaded_driver_skip_reason
from gpudoctor.facts.nvidia_uvm import PERSIST_FILE, UVM_NODE
from gpudoctor.plugin import Area, Check, Findings, Result, Status

ID = "nvidia.uvm"
FIX = "nvidia.load_uvm"
LOAD = "sudo nvidia-modprobe -u -c=0"
PERSIST = f"echo nvidia-uvm | sudo tee {PERSIST_FILE}"


class NvidiaUvm(Check):
    id = ID
    title = "CUDA's unified-memory module nvidia_uvm and /dev/nvidia-uvm"
    area = Area.DEVICES
    order = 45

    def applies(self, facts: Facts) -> str | None:
        return loaded_driver_skip_reason(facts)

    def run(self, facts: Facts) -> Result:
        uvm = facts.nvidia_uvm
        found = Findings()
        ev = found.evidence
        ev.append("/proc/modules: nvidia_uvm " + ("loaded" if uvm.loaded else "is not loaded"))
        if uvm.node is None:
            ev.append(f"{UVM_NODE}: does not exist")
        else:
            ev.append(f"{UVM_NODE}: {uvm.node.kind} {uvm.node.major}:{uvm.node.minor} "
                      f"mode {uvm.node.mode_octal}")
        ev.append(f"loaded at boot by {uvm.persisted}" if uvm.persisted
                  else "no modules-load.d file or /etc/modules line loads nvidia-uvm at boot")
        ev.append(f"on demand: {uvm.on_demand_reason}")
        why = ("CUDA allocates through the unified-memory module: without nvidia_uvm and "
               f"{UVM_NODE} a container's CUDA says \"no CUDA-capable device is detected\" "
               "(cudaGetDeviceCount fails) although nvidia-smi lists every GPU.")
        commands = (LOAD, PERSIST)
        remedy = (f"Load it and create {UVM_NODE}: `{LOAD}` (or `sudo modprobe nvidia_uvm`), "
                  f"and load it at every boot: `{PERSIST}`.")
        if uvm.loaded and uvm.node is not None:
            return found.result("nvidia_uvm is loaded and /dev/nvidia-uvm exists", why)
        if uvm.loaded:
            found.add(Status.WARN, f"nvidia_uvm is loaded but {UVM_NODE} does not exist",
                      why + " The driver creates the file only when asked (nvidia-modprobe); "
                      "a CDI spec generated now would leave it out.",
                      f"Create it: `{LOAD}`.", (FIX,), id=f"{ID}.node_missing",
                      commands=(LOAD,))
        elif uvm.on_demand:
            return found.result(
                f"nvidia_uvm is not loaded yet; {uvm.on_demand_reason}",
                why + " Nothing needs it before the first GPU container starts.")
        elif uvm.on_demand is False:
            found.add(Status.FAIL, f"nvidia_uvm is not loaded and nothing loads it: "
                      f"{uvm.on_demand_reason}",
                      why + " In this mode the toolkit does not load kernel modules, so the "
                      "module must be loaded at boot.", remedy, (FIX,), id=f"{ID}.not_loaded",
                      commands=commands)
        else:
            found.add(Status.WARN, f"nvidia_uvm is not loaded ({uvm.on_demand_reason})", why,
                      remedy, (FIX,), id=f"{ID}.not_loaded", commands=commands)
        return found.result("", "")
