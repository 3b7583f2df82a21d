"""engines.present: which container engines this host has, and which one is in use."""

from __future__ import annotations

from gpudoctor.facts import Facts
from gpudoctor.plugin import Area, Check, Findings, Result

MODES = {"system": "system daemon", "rootless": "rootless", "rootful": "rootful",
         "kubelet": "under the kubelet", "standalone": "standalone",
         "docker": "Docker's containerd", "snap": "snap", "desktop": "Docker Desktop",
         "remote": "remote", "unknown": "mode unknown"}


class EnginesPresent(Check):
    id = "engines.present"
    title = "Container engines on this host, and the one in use"
    area = Area.CONTAINER
    order = 50

    def run(self, facts: Facts) -> Result:
        engines = facts.engines
        found = Findings()
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
            return Result.skip("no container engine is installed (no Docker, Podman, "
                               "containerd or CRI-O); docker.daemon says how to install Docker",
                               evidence=found.evidence)
        used = [e for e in engines if e.in_use]
        names = ", ".join(f"{e.name} {e.version or ''}".strip()
                          + (" (in use)" if e.in_use else "") for e in engines)
        details = ("gpudoctor judges the host for the engines it has: each engine reads its "
                   "own configuration, and the NVIDIA runtime or CDI must be set up in the one "
                   "that starts the containers. ")
        if used:
            details += (f"In use: {', '.join(e.name for e in used)} (the engine the person's "
                        "commands reach, and on a Kubernetes node the kubelet's runtime).")
        return found.result(names, details)
