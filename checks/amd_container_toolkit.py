"""amd.container_toolkit: AMD's Container Toolkit (amd-ctk), its CDI spec and its runtime.

Plain `--device` arguments need no toolkit and stay gpudoctor's default. Where the toolkit is
installed, its paths are offered as alternatives, each only where this host supports it:
`--device=amd.com/gpu=N` needs a CDI spec naming the GPU and a Docker with CDI on (25+);
`--gpus` for AMD needs Docker 29.3 with CDI, or Docker 28.3 with the `amd` runtime loaded.
The traps: `amd-ctk cdi generate` puts every amdgpu device in the spec, the iGPU included, so
`amd.com/gpu=all` hands it over too (ROCm then picks the iGPU: `HIP error: invalid device
function`); a spec generated before a GPU was added or moved does not name it; and
`amd-ctk runtime configure --remove` deletes all of /etc/cdi (NVIDIA's spec too), so gpudoctor
never runs it.
"""

from __future__ import annotations

from gpudoctor import TYPE_CHECKING
from gpudoctor.plugin import Area, Check, Findings, Result, Say, Sentences, Status, fill

if TYPE_CHECKING:
    from gpudoctor.facts import Facts
    from gpudoctor.facts.amd import AmdCdiSpec
    from gpudoctor.facts.gpus import Gpu

ID = "amd.container_toolkit"
GENERATE = "sudo amd-ctk cdi generate --output=/etc/cdi/amd.json"
CONSISTENT = ("the AMD Container Toolkit is consistent with the selected GPUs; the --device "
              "arguments stay the default")
OPTIONAL = ("amd-ctk's CDI spec and runtime are optional ways to hand AMD GPUs to a container; "
            "gpudoctor keeps plain --device arguments as the default, which need neither.")

SENTENCES = Sentences(ID, {
    "runtime_not_loaded": Say(
        Status.WARN, "the `amd` runtime is declared in {config_path} but the running Docker "
        "daemon has not loaded it",
        "The daemon reads daemon.json only when it starts (or reloads): until then `docker run "
        "--runtime=amd` fails with `{unknown_runtime}`. The --device arguments are not "
        "affected.", "Restart the daemon: `{restart}`.", ("docker.reload",), ("{restart}",)),
    "spec_misses_gpu": Say(
        Status.WARN, "{path} does not name the selected GPU {gpus}",
        "The spec was generated before this GPU was added, moved or renumbered; "
        "`--device=amd.com/gpu=...` cannot give it to a container.",
        f"Regenerate the spec: `{GENERATE}`.", commands=(GENERATE,)),
    #: a note, not a problem: the person named `all` and gets the iGPU too
    "all_includes_igpu": Say(
        Status.PASS, "note: `amd.com/gpu=all` in {path} also gives the unselected {gpus}; name "
        "the GPU instead (`--device=amd.com/gpu={chosen}`)",
        "amd-ctk puts every amdgpu device in its spec, the integrated GPU too; ROCm in the "
        "container then enumerates it and may run on it (`HIP error: invalid device function`) "
        "or crash.",
        "Name the GPUs instead of `all`: `{device_args}`, or keep gpudoctor's --device "
        "arguments."),
    "ok": Say(Status.PASS, CONSISTENT, OPTIONAL),
    "ok_alternatives": Say(Status.PASS, CONSISTENT + " (alternatives: {alternatives})",
                           OPTIONAL),
    "ok_with_notes": Say(Status.PASS, CONSISTENT + "; {notes}"),
})


class AmdContainerToolkit(Check):
    id = ID
    title = "AMD Container Toolkit, its CDI spec and runtime"
    area = Area.CONTAINER
    order = 70
    requires = ("gpu.present",)
    sentences = SENTENCES

    def applies(self, facts: Facts) -> str | None:
        from gpudoctor.facts.amd import amd_cdi_specs

        if not facts.gpus.by_vendor("amd"):
            return "no selected AMD GPU"
        if not (facts.host.which("amd-ctk") or amd_cdi_specs(facts)
                or "amd" in self._declared(facts)):
            return ("the AMD Container Toolkit is not installed (no amd-ctk, no amd.com/gpu "
                    "CDI spec, no `amd` runtime): the --device arguments need nothing more")
        return None

    @staticmethod
    def _declared(facts: Facts) -> dict:
        runtimes = facts.docker.config.values.get("runtimes")
        return runtimes if isinstance(runtimes, dict) else {}

    def run(self, facts: Facts) -> Result:
        from gpudoctor.facts.amd import amd_cdi_specs

        found = self.findings()
        ctk = facts.host.which("amd-ctk")
        found.evidence.append(f"amd-ctk: {ctk or 'not on PATH'}")
        daemon = facts.docker
        declared = "amd" in self._declared(facts)
        loaded = "amd" in daemon.runtimes
        found.evidence.append(f"{daemon.config_path}: `amd` runtime "
                              + ("declared" if declared else "not declared")
                              + ("; the daemon has it loaded" if loaded else
                                 "; not loaded by the running daemon" if daemon.reachable
                                 else ""))
        if declared and daemon.reachable and not loaded:
            found.say("runtime_not_loaded", config_path=daemon.config_path,
                      unknown_runtime=daemon.unknown_runtime_error("amd"),
                      restart=daemon.restart_command())
        gpus = facts.gpus.by_vendor("amd")
        others = [g for g in facts.gpus.gpus if g.vendor == "amd" and not g.selected]
        specs = [s for s in amd_cdi_specs(facts) if s.error is None]
        for spec in amd_cdi_specs(facts):
            if spec.error:
                found.evidence.append(f"{spec.path}: {spec.error} (see docker.cdi)")
        indices: dict[str, str] = {}
        for spec in specs:
            indices.update(self._spec(facts, found, spec, gpus, others))
        cdi = facts.cdi
        alternatives: dict[str, list[str]] = {}
        named = [indices[g.pci] for g in gpus if g.pci in indices]
        if specs and len(named) == len(gpus) and cdi.enabled:
            alternatives["cdi"] = [f"--device=amd.com/gpu={i}" for i in named]
            if daemon.at_least(29, 3):
                alternatives["gpus"] = [f"--gpus=\"device={','.join(named)}\""]
        if loaded:
            alternatives["runtime"] = ["--runtime=amd",
                                       f"--env=AMD_VISIBLE_DEVICES={','.join(named) or 'all'}"]
            if daemon.at_least(28, 3) and named:
                alternatives["runtime_gpus"] = ["--runtime=amd",
                                                f"--gpus=\"device={','.join(named)}\""]
        for name, args in alternatives.items():
            found.evidence.append(f"alternative ({name}): {' '.join(args)}")
        if specs and not cdi.enabled:
            found.evidence.append(f"CDI is off in this Docker ({cdi.enabled_reason}): the spec "
                                  "cannot be used with --device=amd.com/gpu=N")
        if "gpus" not in alternatives and "runtime_gpus" not in alternatives:
            found.evidence.append(
                "`--gpus` for AMD is not offered: it needs Docker 29.3 with a CDI spec naming "
                "the GPUs, or Docker 28.3 with the amd runtime loaded (this is Docker "
                f"{daemon.server_version or '(version unknown)'}, amd runtime "
                f"{'loaded' if loaded else 'not loaded'})")
        notes = [f.summary for f in found.items if f.status == Status.PASS]
        found.items = [f for f in found.items if f.status != Status.PASS] + [
            f for f in found.items if f.status == Status.PASS]
        result = found.verdict("ok_alternatives" if alternatives else "ok",
                               alternatives=", ".join(alternatives))
        if result.status == Status.PASS and notes:
            result.summary = fill(SENTENCES["ok_with_notes"].summary,
                                  {"notes": "; ".join(notes)})
        return result

    def _spec(self, facts: Facts, found: Findings, spec: AmdCdiSpec, gpus: list[Gpu],
              others: list[Gpu]) -> dict[str, str]:
        """Map selected GPUs to the spec's device names; note iGPUs and missing GPUs."""
        from gpudoctor.facts.runargs import resolve_node

        found.evidence.append(f"{spec.path}: amd.com/gpu devices "
                              + ", ".join(f"{n} -> {' '.join(p for p in paths if 'render' in p)}"
                                          for n, paths in spec.devices.items()))
        by_render: dict[str, str] = {}
        for name, paths in spec.devices.items():
            if name == "all":
                continue
            for path in paths:
                by_render.setdefault(resolve_node(facts.host, path), name)
        indices: dict[str, str] = {}
        missing: list[Gpu] = []
        for gpu in gpus:
            index = by_render.get(resolve_node(facts.host, gpu.render)) if gpu.render else None
            if index is None:
                missing.append(gpu)
            else:
                indices[gpu.pci] = index
        if missing:
            found.say("spec_misses_gpu", path=spec.path,
                      gpus=", ".join(f"{g.short_pci} ({g.render})" for g in missing))
        all_paths = {resolve_node(facts.host, p) for p in spec.devices.get("all", [])}
        extra = [g for g in others if g.render and resolve_node(facts.host, g.render)
                 in all_paths]
        if extra:
            chosen = ",".join(indices.get(g.pci, "?") for g in gpus)
            found.say("all_includes_igpu", path=spec.path, chosen=chosen,
                      gpus=", ".join(f"{g.short_pci} {g.kind} ({g.render})" for g in extra),
                      device_args=" ".join(f"--device=amd.com/gpu={i}"
                                           for i in chosen.split(",")))
        return indices
