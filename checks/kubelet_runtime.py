"""kubelet.runtime: on a Kubernetes node, the runtime endpoint the kubelet uses exists and runs,
and what the node must provide for the NVIDIA and AMD device plugins. gpudoctor never talks to
the API server: this is what the node itself shows."""

from __future__ import annotations

from gpudoctor import TYPE_CHECKING
from gpudoctor.plugin import Area, Check, Result, Say, Sentences, Status

if TYPE_CHECKING:
    from gpudoctor.facts import Facts

ID = "kubelet.runtime"
UNITS = {"containerd": "containerd", "cri-o": "crio"}

SENTENCES = Sentences(ID, {
    "unknown_endpoint": Say(
        Status.WARN, "the kubelet's endpoint {endpoint} is not containerd's or CRI-O's",
        "gpudoctor cannot tell which engine serves {endpoint}, so it cannot check that "
        "engine's GPU configuration."),
    "cri_dockerd": Say(
        Status.WARN, "the kubelet runs pods through cri-dockerd",
        "Pods go through Docker (cri-dockerd): Docker's nvidia runtime is what the device "
        "plugin needs (see docker.nvidia_runtime)."),
    "missing": Say(
        Status.FAIL, "the kubelet uses {runtime}, which is not installed",
        "The kubelet talks to {endpoint} ({endpoint_source}), but there is no {runtime} on "
        "this node: no pod can start.",
        "Install {runtime} or point the kubelet at the runtime this node has."),
    "not_running": Say(
        Status.FAIL, "the kubelet uses {runtime}, which is not running",
        "The kubelet talks to {endpoint} and no {runtime} process runs: no pod can start.",
        "`sudo systemctl start {unit}`", commands=("sudo systemctl start {unit}",)),
    "ok": Say(
        Status.PASS, "the kubelet uses {runtime} ({endpoint})",
        "Pods on this node are started by {runtime} ({endpoint}). What GPU device plugins need "
        "from the node: the NVIDIA device plugin needs the `nvidia` runtime as the runtime's "
        "default (or a RuntimeClass named nvidia, or CDI with the plugin's cdi-cri strategy), "
        "with the toolkit installed (see containerd.nvidia_runtime / crio.nvidia_runtime); the "
        "AMD device plugin needs only /dev/kfd and /dev/dri with the amdgpu driver loaded (no "
        "runtime change). gpudoctor does not ask the API server which plugins are deployed."),
})


class KubeletRuntime(Check):
    id = ID
    title = "The kubelet's container runtime, and what GPU device plugins need from it"
    area = Area.CONTAINER
    order = 150
    sentences = SENTENCES

    def applies(self, facts: Facts) -> str | None:
        if not facts.kubelet.present:
            return "no kubelet on this host: it is not a Kubernetes node"
        return None

    def run(self, facts: Facts) -> Result:
        k = facts.kubelet
        found = self.findings([f"runtime endpoint: {k.endpoint} ({k.endpoint_source})",
                               *k.evidence])
        runtime = k.runtime
        state = {"containerd": facts.containerd, "cri-o": facts.crio}.get(runtime or "")
        values = {"runtime": runtime, "endpoint": k.endpoint,
                  "endpoint_source": k.endpoint_source, "unit": UNITS.get(runtime or "", "")}
        if runtime is None:
            found.say("unknown_endpoint", **values)
        elif runtime == "docker":
            found.say("cri_dockerd", **values)
        elif state is not None and not state.installed:
            found.say("missing", **values)
        elif state is not None and not state.running and facts.host.processes() is not None:
            found.say("not_running", **values)
        return found.verdict("ok", **values)  # an unknown runtime is always a finding
