"""engines.present: which container engines this host has, and which one is in use."""

from __future__ import annotations

from gpudoctor import TYPE_CHECKING
from gpudoctor.plugin import Area, Check, Result, Say, Sentences, Status

if TYPE_CHECKING:
    from gpudoctor.facts import Facts

ID = "engines.present"
MODES = {"system": "system daemon", "rootless": "rootless", "rootful": "rootful",
         "kubelet": "under the kubelet", "standalone": "standalone",
         "docker": "Docker's containerd", "snap": "snap", "desktop": "Docker Desktop",
         "remote": "remote", "unknown": "mode unknown"}
DETAILS = ("gpudoctor judges the host for the engines it has: each engine reads its own "
           "configuration, and the NVIDIA runtime or CDI must be set up in the one that starts "
           "the containers.")

SENTENCES = Sentences(ID, {
    # an engine is always in use when there is one (engines.in_use_name picks one)
    "ok": Say(Status.PASS, "{engines}",
              DETAILS + " In use: {in_use} (the engine the person's commands reach, and on a "
              "Kubernetes node the kubelet's runtime)."),
    "none": Say(Status.SKIP, "no container engine is installed (no Docker, Podman, containerd "
                "or CRI-O); docker.daemon says how to install Docker"),
})


class EnginesPresent(Check):
    id = ID
    title = "Container engines on this host, and the one in use"
    area = Area.CONTAINER
    order = 50
    sentences = SENTENCES

    def run(self, facts: Facts) -> Result:
        engines = facts.engines
        found = self.findings()
        for e in engines:
            answers = {True: "answers", False: "does not answer", None: "not asked"}[e.answers]
            found.evidence.append(
                f"{e.name} {e.version or '(version unknown)'}: {MODES.get(e.mode, e.mode)}, "
                f"{answers}, configuration {e.config or '-'}"
                + (" [in use]" if e.in_use else "") + "".join(
                    f"; {x}" for x in e.evidence if x))
        kubelet = facts.kubelet
        if kubelet.present:
            found.evidence.append(f"kubelet {kubelet.version or '?'}: runtime endpoint "
                                  f"{kubelet.endpoint} ({kubelet.endpoint_source})")
        if not engines:
            return found.verdict("none")
        used = [e.name for e in engines if e.in_use]
        names = ", ".join(f"{e.name} {e.version or ''}".strip()
                          + (" (in use)" if e.in_use else "") for e in engines)
        return found.verdict("ok", engines=names, in_use=", ".join(used))
