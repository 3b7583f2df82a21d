"""amd.gfx_target: each selected AMD GPU's gfx target is one ROCm ships code for.

ROCm's libraries (rocBLAS, MIOpen, PyTorch's wheels) carry compiled kernels only for the gfx
targets AMD supports. On any other target the container starts, sees the GPU, and the first
kernel launch fails: `HIP error: invalid device function`, `hipErrorNoBinaryForGpu: Unable to
find code object for all current devices!`, or rocBLAS `Cannot read TensileLibrary.dat ... for
GPU arch : gfx1031`. Consumer RDNA2/RDNA3 parts run their supported sibling's code when ROCm is
told to treat them as it (`HSA_OVERRIDE_GFX_VERSION`), which gpudoctor adds only on request.
"""

from __future__ import annotations

from typing import Any

from gpudoctor.facts import Facts
from gpudoctor.facts.amd import OVERRIDE_VAR, amd_targets, override_requested
from gpudoctor.plugin import Area, Check, Findings, Result, Status


class AmdGfxTarget(Check):
    id = "amd.gfx_target"
    title = "AMD GPU targets ROCm ships code for"
    area = Area.HARDWARE
    order = 30
    requires = ("gpu.present",)

    def applies(self, facts: Facts) -> str | None:
        if not [g for g in facts.gpus.by_vendor("amd") if g.driver == "amdgpu"]:
            return "no selected AMD GPU driven by amdgpu"
        return None

    def run(self, facts: Facts) -> Result:
        judged = amd_targets(facts)
        line = judged.line
        found = Findings()
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
        env = judged.override_env()
        for t in judged.unsupported:
            self._unsupported(facts, found, t, env, line.rocm)
        if not judged.topology_read:
            found.evidence.append("the KFD topology (/sys/class/kfd/kfd/topology) cannot be "
                                  "read: amdgpu has no KFD (see devices.nodes)")
        result = found.result(self._passed(judged, unknown), self._why())
        result.findings = list(dict.fromkeys(result.findings))
        if found.items and all(f.status == Status.PASS for f in found.items):
            result.summary = "; ".join(f.summary for f in found.items)
        if not judged.targets or all(t.gfx is None for t in judged.targets):
            return Result.skip("no gfx target could be read from the KFD topology",
                               evidence=found.evidence)
        return result

    def _unsupported(self, facts: Facts, found: Findings, t: Any, env: list[str],
                     rocm: str) -> None:
        who = f"{t.gpu.short_pci} ({t.gpu.name or t.gpu.ids}, {t.gfx})"
        fails = ("Its first kernel launch fails with `HIP error: invalid device function` or "
                 "`hipErrorNoBinaryForGpu: Unable to find code object for all current "
                 "devices!` (rocBLAS: `Cannot read ...TensileLibrary.dat ... for GPU arch : "
                 f"{t.gfx}`).")
        later = (f" ROCm {t.since} and later list {t.gfx}: an image built on that line needs "
                 "no override." if t.since else "")
        if t.override is None:
            found.add(Status.WARN, f"{who} is not a target ROCm {rocm} ships code for, and no "
                      "safe override is known", f"ROCm {rocm} has no kernels for {t.gfx}. "
                      f"{fails} {t.no_override}.{later}",
                      remedy="Use a GPU ROCm supports, or an image whose ROCm was built for "
                             f"{t.gfx} (some distributions build for it).",
                      id="amd.gfx_target.unsupported_no_override")
            return
        mine = [e for e in env if e.endswith(f"={t.override}")
                and (e.startswith(f"{OVERRIDE_VAR}=")
                     or e.startswith(f"{OVERRIDE_VAR}_{t.node.index}="))]
        pair = mine[0] if mine else f"{OVERRIDE_VAR}={t.override}"
        per_gpu = "_" in pair.split("=", 1)[0].removeprefix(OVERRIDE_VAR)
        how = (f"`-e {pair}` makes ROCm treat it as {t.runs_as} (same ISA family), which "
               f"the community uses for these parts; it is a workaround AMD does not support."
               + (f" The other selected GPUs need no (or another) value, so it is set for KFD "
                  f"node {t.node.index} only (`{OVERRIDE_VAR}_<node>`, ROCm 6.2 and later)."
                  if per_gpu else ""))
        if override_requested(facts):
            found.add(Status.PASS, f"{who} runs as {t.runs_as} through {pair} (asked for with "
                      "--hsa-override)", f"{fails.split('.')[0]} without it. {how}",
                      id="amd.gfx_target.override_applied")
            return
        found.add(Status.WARN, f"{who} is not a target ROCm {rocm} ships code for; "
                  f"`{pair}` is the known workaround", f"ROCm {rocm} has no kernels for "
                  f"{t.gfx}. {fails} {how}{later}",
                  remedy="Add the override to the arguments: `gpudoctor devices --hsa-override` "
                         f"prints them with `--env={pair}`; or use an image built for {t.gfx}.",
                  id="amd.gfx_target.unsupported_override_known",
                  commands=("gpudoctor devices --hsa-override",))

    @staticmethod
    def _passed(judged: Any, unknown: list[str]) -> str:
        known = [t for t in judged.targets if t.gfx]
        names = ", ".join(f"{t.gpu.short_pci} {t.gfx}" for t in known)
        text = f"ROCm {judged.line.rocm} ships code for every selected AMD GPU ({names})"
        if unknown:
            text += f"; gfx target unknown for {', '.join(unknown)}"
        return text

    @staticmethod
    def _why() -> str:
        return ("ROCm's libraries carry compiled kernels only for the gfx targets AMD lists; "
                "the table gpudoctor ships is dated and per ROCm release line (`--rocm LINE` "
                "judges for an image built on an older line).")
