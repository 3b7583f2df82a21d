"""nvidia.uvm: the CUDA unified-memory module (nvidia_uvm) is loaded and /dev/nvidia-uvm exists.

Without them CUDA in a container reports "no CUDA-capable device is detected" although
nvidia-smi lists every GPU. It matters most where nothing loads the module on demand: CDI mode
and `load-kmods = false` in the toolkit's config.toml.
"""

from __future__ import annotations

from gpudoctor import TYPE_CHECKING
from gpudoctor.plugin import Area, Check, Result, Say, Sentences, Status

if TYPE_CHECKING:
    from gpudoctor.facts import Facts

ID = "nvidia.uvm"
FIX = "nvidia.load_uvm"
LOAD = "sudo nvidia-modprobe -u -c=0"
PERSIST = "echo nvidia-uvm | sudo tee {persist_file}"
WHY = ("CUDA allocates through the unified-memory module: without nvidia_uvm and {node} a "
       "container's CUDA says \"no CUDA-capable device is detected\" (cudaGetDeviceCount "
       "fails) although nvidia-smi lists every GPU.")
REMEDY = (f"Load it and create {{node}}: `{LOAD}` (or `sudo modprobe nvidia_uvm`), and load it "
          f"at every boot: `{PERSIST}`.")

SENTENCES = Sentences(ID, {
    "ok": Say(Status.PASS, "nvidia_uvm is loaded and {node} exists", WHY),
    "on_demand": Say(Status.PASS, "nvidia_uvm is not loaded yet; {on_demand}",
                     WHY + " Nothing needs it before the first GPU container starts."),
    "node_missing": Say(
        Status.WARN, "nvidia_uvm is loaded but {node} does not exist",
        WHY + " The driver creates the file only when asked (nvidia-modprobe); a CDI spec "
        "generated now would leave it out.",
        f"Create it: `{LOAD}`.", (FIX,), (LOAD,)),
    "not_loaded": Say(
        Status.FAIL, "nvidia_uvm is not loaded and nothing loads it: {on_demand}",
        WHY + " In this mode the toolkit does not load kernel modules, so the module must be "
        "loaded at boot.", REMEDY, (FIX,), (LOAD, PERSIST)),
    "not_loaded_unsure": Say(
        Status.WARN, "nvidia_uvm is not loaded ({on_demand})", WHY, REMEDY, (FIX,),
        (LOAD, PERSIST), finding="not_loaded"),
})


class NvidiaUvm(Check):
    id = ID
    title = "CUDA's unified-memory module nvidia_uvm and /dev/nvidia-uvm"
    area = Area.DEVICES
    order = 45
    sentences = SENTENCES

    def applies(self, facts: Facts) -> str | None:
        from gpudoctor.facts.applies import loaded_driver_skip_reason

        return loaded_driver_skip_reason(facts)

    def run(self, facts: Facts) -> Result:
        from gpudoctor.facts.nvidia_uvm import PERSIST_FILE, UVM_NODE

        uvm = facts.nvidia_uvm
        found = self.findings()
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
        values = {"node": UVM_NODE, "persist_file": PERSIST_FILE,
                  "on_demand": uvm.on_demand_reason}
        if uvm.loaded and uvm.node is None:
            found.say("node_missing", **values)
        elif not uvm.loaded and uvm.on_demand is False:
            found.say("not_loaded", **values)
        elif not uvm.loaded and uvm.on_demand is None:
            found.say("not_loaded_unsure", **values)
        return found.verdict("ok" if uvm.loaded else "on_demand", **values)
