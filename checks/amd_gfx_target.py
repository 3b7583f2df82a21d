"""amd.gfx_target: each selected AMD GPU's gfx target is one ROCm ships code for.

ROCm's libraries (rocBLAS, MIOpen, PyTorch's wheels) carry compiled kernels only for the gfx
targets AMD supports. On any other target the container starts, sees the GPU, and the first
kernel launch fails: `HIP error: invalid device function`, `hipErrorNoBinaryForGpu: Unable to
find code object for all current devices!`, or rocBLAS `Cannot read TensileLibrary.dat ... for
GPU arch : gfx1031`. Consumer RDNA2/RDNA3 parts run their supported sibling's code when ROCm is
told to treat them as it (`HSA_OVERRIDE_GFX_VERSION`), which gpudoctor adds only on request.
"""

from __future__ import annotations

from gpudoctor import TYPE_CHECKING
from gpudoctor.plugin import Area, Check, Findings, Result, Say, Sentences, Status

if TYPE_CHECKING:
    from typing import Any

    from gpudoctor.facts import Facts

ID = "amd.gfx_target"
WHY = ("ROCm's libraries carry compiled kernels only for the gfx targets AMD lists; the table "
       "gpudoctor ships is dated and per ROCm release line (`--rocm LINE` judges for an image "
       "built on an older line).")
FAILS = ("Its first kernel launch fails with `HIP error: invalid device function` or "
         "`hipErrorNoBinaryForGpu: Unable to find code object for all current devices!` "
         "(rocBLAS: `Cannot read ...TensileLibrary.dat ... for GPU arch : {gfx}`).")
NO_KERNELS = "ROCm {rocm} has no kernels for {gfx}. " + FAILS
HOW = ("`-e {pair}` makes ROCm treat it as {runs_as} (same ISA family), which the community "
       "uses for these parts; it is a workaround AMD does not support.")
#: when only some selected GPUs need the override, it is set per KFD node
PER_GPU = (" The other selected GPUs need no (or another) value, so it is set for KFD node "
           "{node} only (`{var}_<node>`, ROCm 6.2 and later).")
#: when a newer ROCm line lists the target
LATER = " ROCm {since} and later list {gfx}: an image built on that line needs no override."
NO_OVERRIDE = Say(
    Status.WARN, "{who} is not a target ROCm {rocm} ships code for, and no safe override is "
    "known", NO_KERNELS + " {no_override}.",
    "Use a GPU ROCm supports, or an image whose ROCm was built for {gfx} (some distributions "
    "build for it).", finding="unsupported_no_override")
OVERRIDE_KNOWN = Say(
    Status.WARN, "{who} is not a target ROCm {rocm} ships code for; `{pair}` is the known "
    "workaround", NO_KERNELS + " " + HOW,
    "Add the override to the arguments: `gpudoctor devices --hsa-override` prints them with "
    "`--env={pair}`; or use an image built for {gfx}.",
    commands=("gpudoctor devices --hsa-override",), finding="unsupported_override_known")
APPLIED = Say(Status.PASS, "{who} runs as {runs_as} through {pair} (asked for with "
              "--hsa-override)", "Its first kernel launch fails with `HIP error: invalid device "
              "function` without it. " + HOW, finding="override_applied")


def _with(row: Say, *more: str) -> Say:
    """`row` whose details go on with the sentences `more` (a variant of the same finding)."""
    return Say(row.status, row.summary, row.details + "".join(more), row.remedy, row.fixes,
               row.commands, row.finding)


SENTENCES = Sentences(ID, {
    "ok": Say(Status.PASS, "ROCm {rocm} ships code for every selected AMD GPU ({targets})", WHY),
    "ok_some_unknown": Say(Status.PASS, "ROCm {rocm} ships code for every selected AMD GPU "
                           "({targets}); gfx target unknown for {unknown}", WHY),
    "no_target": Say(Status.SKIP, "no gfx target could be read from the KFD topology"),
    "unsupported_no_override": NO_OVERRIDE,
    "unsupported_no_override_later": _with(NO_OVERRIDE, LATER),
    "unsupported_override_known": OVERRIDE_KNOWN,
    "unsupported_override_known_later": _with(OVERRIDE_KNOWN, LATER),
    "unsupported_override_known_per_gpu": _with(OVERRIDE_KNOWN, PER_GPU),
    "unsupported_override_known_per_gpu_later": _with(OVERRIDE_KNOWN, PER_GPU, LATER),
    "override_applied": APPLIED,
    "override_applied_per_gpu": _with(APPLIED, PER_GPU),
})


class AmdGfxTarget(Check):
    id = ID
    title = "AMD GPU targets ROCm ships code for"
    area = Area.HARDWARE
    order = 30
    requires = ("gpu.present",)
    sentences = SENTENCES

    def applies(self, facts: Facts) -> str | None:
        if not [g for g in facts.gpus.by_vendor("amd") if g.driver == "amdgpu"]:
            return "no selected AMD GPU driven by amdgpu"
        return None

    def run(self, facts: Facts) -> Result:
        from gpudoctor.facts.amd import amd_targets

        judged = amd_targets(facts)
        line = judged.line
        found = self.findings()
        found.evidence.append(f"support table: ROCm {line.rocm} (released {line.released}; "
                              f"table checked {judged.table.checked}): "
                              + " ".join(sorted(line.gfx)))
        unknown = []
        for t in judged.targets:
            if t.gfx is None:
                unknown.append(t.gpu.short_pci)
                found.evidence.append(f"{t.gpu.short_pci}: no KFD node with drm_render_minor "
                                      f"of {t.gpu.render or 'its render node'}; gfx target "
                                      "unknown")
                continue
            where = f"/sys/class/kfd/kfd/topology/nodes/{t.node.index}/properties"  # type: ignore[union-attr]
            since = (f"listed from ROCm {t.since}" if t.since else "in no ROCm line gpudoctor "
                     "knows")
            verdict = "supported" if t.supported else f"not supported by ROCm {line.rocm}"
            found.evidence.append(
                f"{t.gpu.short_pci} ({t.gpu.name or t.gpu.ids}): {where}: gfx_target_version "
                f"{t.node.gfx_target_version} = {t.gfx}, {verdict} ({since})")  # type: ignore[union-attr]
        if not judged.topology_read:
            found.evidence.append("the KFD topology (/sys/class/kfd/kfd/topology) cannot be "
                                  "read: amdgpu has no KFD (see devices.nodes)")
        if not judged.targets or all(t.gfx is None for t in judged.targets):
            return found.verdict("no_target")
        env = judged.override_env()
        for t in judged.unsupported:
            self._unsupported(facts, found, t, env, line.rocm)
        known = [t for t in judged.targets if t.gfx]
        return found.verdict("ok_some_unknown" if unknown else "ok", rocm=line.rocm,
                             targets=", ".join(f"{t.gpu.short_pci} {t.gfx}" for t in known),
                             unknown=", ".join(unknown))

    def _unsupported(self, facts: Facts, found: Findings, t: Any, env: list[str],
                     rocm: str) -> None:
        """Say what an unsupported target gets: an override applied, offered, or none known."""
        from gpudoctor.facts.amd import OVERRIDE_VAR, override_requested

        values: dict[str, Any] = {"who": f"{t.gpu.short_pci} ({t.gpu.name or t.gpu.ids}, {t.gfx})",
                  "gfx": t.gfx, "rocm": rocm, "since": t.since, "var": OVERRIDE_VAR}
        later = "_later" if t.since else ""
        if t.override is None:
            found.say("unsupported_no_override" + later, no_override=t.no_override, **values)
            return
        mine = [e for e in env if e.endswith(f"={t.override}")
                and (e.startswith(f"{OVERRIDE_VAR}=")
                     or e.startswith(f"{OVERRIDE_VAR}_{t.node.index}="))]
        pair = mine[0] if mine else f"{OVERRIDE_VAR}={t.override}"
        per_gpu = "_per_gpu" if "_" in pair.split("=", 1)[0].removeprefix(OVERRIDE_VAR) else ""
        values.update(pair=pair, runs_as=t.runs_as, node=t.node.index)
        if override_requested(facts):
            found.say("override_applied" + per_gpu, **values)
            return
        found.say("unsupported_override_known" + per_gpu + later, **values)
