"""kubelet.runtime: on a Kubernetes node, the runtime endpoint the kubelet uses exists and runs,
and what the node must provide for the NVIDIA and AMD device plugins. gpudoctor never talks to
the API server: this is what the node itself shows."""

from __future__ import annotations

from gpudoctor.facts import Facts
from gpudoctor.plugin import Area, Check, Findings, Result, Status


class KubeletRuntime(Check):
    id = "kubelet.runtime"
    title = "The kubelet's container runtime, and what GPU device plugins need from it"
    area = Area.CONTAINER
    order = 150

    def applies(self, facts: Facts) -> str | None:
        if not facts.kubelet.present:
            return "no kubelet on this host: it is not a Kubernetes node"
        return None

    def run(self, facts: Facts) -> Result:
        k = facts.kubelet
        found = Findings(evidence=[f"runtime endpoint: {k.endpoint} ({k.endpoint_source})",
                                   *k.evidence])
        runtime = k.runtime
        state = {"containerd": facts.containerd, "cri-o": facts.crio}.get(runtime or "")
        unit = {"containerd": "containerd", "cri-o": "crio"}.get(runtime or "", "")
        if runtime is None:
            found.add(Status.WARN, f"the kubelet's endpoint {k.endpoint} is not containerd's or "
                      "CRI-O's", f"gpudoctor cannot tell which engine serves {k.endpoint}, so "
                      "it cannot check that engine's GPU configuration.",
                      id="kubelet.runtime.unknown_endpoint")
        elif runtime == "docker":
            found.add(Status.WARN, "the kubelet runs pods through cri-dockerd",
                      "Pods go through Docker (cri-dockerd): Docker's nvidia runtime is what "
                      "the device plugin needs (see docker.nvidia_runtime).",
                      id="kubelet.runtime.cri_dockerd")
        elif state is not None and not state.installed:
            found.add(Status.FAIL, f"the kubelet uses {runtime}, which is not installed",
                      f"The kubelet talks to {k.endpoint} ({k.endpoint_source}), but there is "
                      f"no {runtime} on this node: no pod can start.",
                      remedy=f"Install {runtime} or point the kubelet at the runtime this node "
                      "has.", id="kubelet.runtime.missing")
        elif state is not None and not state.running and facts.host.processes() is not None:
            found.add(Status.FAIL, f"the kubelet uses {runtime}, which is not running",
                      f"The kubelet talks to {k.endpoint} and no {runtime} process runs: no "
                      "pod can start.", remedy=f"`sudo systemctl start {unit}`",
                      id="kubelet.runtime.not_running",
                      commands=(f"sudo systemctl start {unit}",))
        details = (f"Pods on this node are started by {runtime or 'an unknown runtime'} "
                   f"({k.endpoint}). What GPU device plugins need from the node: the NVIDIA "
                   "device plugin needs the `nvidia` runtime as the runtime's default (or a "
                   "RuntimeClass named nvidia, or CDI with the plugin's cdi-cri strategy), with "
                   "the toolkit installed (see containerd.nvidia_runtime / "
                   "crio.nvidia_runtime); the AMD device plugin needs only /dev/kfd and "
                   "/dev/dri with the amdgpu driver loaded (no runtime change). gpudoctor does "
                   "not ask the API server which plugins are deployed.")
        return found.result(f"the kubelet uses {runtime or k.endpoint} ({k.endpoint})",
                            details)
