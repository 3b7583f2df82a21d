"""nvidia.cdi_mode: which mode the toolkit injects GPUs in, and whether its CDI side is sound.

From 1.18 the toolkit defaults to just-in-time CDI and ships `nvidia-cdi-refresh` units that
regenerate /var/run/cdi/nvidia.yaml when the driver changes (not on MIG reconfiguration); from
1.19.1 its specs are cdiVersion 0.7.0, which older engines cannot read (toolkit#1940). This
check says which mode is in use and whether Docker routes `--gpus` through CDI, and finds what
makes CDI fail later: refresh units shipped but off, a spec missing in CDI mode, a spec too new
for an installed engine, MIG on while the spec lists no MIG devices. Spec syntax and stale
paths stay with docker.cdi.
"""

from __future__ import annotations

import re

from gpudoctor import TYPE_CHECKING
from gpudoctor.plugin import Area, Check, Findings, Result, Say, Sentences, Status

if TYPE_CHECKING:
    from gpudoctor.facts import Facts
    from gpudoctor.facts.cdi import CdiSpec

ID = "nvidia.cdi_mode"
FIX = "nvidia.cdi_regenerate"
REGENERATE = "sudo nvidia-ctk cdi generate --output=/var/run/cdi/nvidia.yaml"
RESTART_REFRESH = "sudo systemctl restart nvidia-cdi-refresh.service"
ENABLE_REFRESH = "sudo systemctl enable --now nvidia-cdi-refresh.path nvidia-cdi-refresh.service"
REFRESH_LOG = "journalctl -u nvidia-cdi-refresh.service"
#: Engines and the versions that read cdiVersion 0.7.0 specs (toolkit#1940). Docker is judged
#: by docker.cdi and Podman by podman.cdi; these two have no check of their own for it.
ENGINES_FOR_0_7 = (("containerd", (1, 7, 16)), ("crio", (1, 30, 0)))
ENGINE_TIMEOUT = 5.0

OK_DETAILS = ("The mode's CDI side is in place: specs where the mode needs them, readable by "
              "the installed engines.")
SENTENCES = Sentences(ID, {
    "refresh_disabled": Say(
        Status.WARN, "the toolkit's nvidia-cdi-refresh units are installed but not enabled: "
        "the CDI spec is not regenerated after a driver upgrade",
        "Toolkit {version} ships {units} to rewrite /var/run/cdi/nvidia.yaml when the driver "
        "changes. They are not enabled, so after the next driver upgrade the spec names "
        "libraries that are gone and CDI containers fail to start.",
        f"`{ENABLE_REFRESH}`", (FIX,), (ENABLE_REFRESH,)),
    "refresh_behind": Say(
        Status.WARN, "nvidia-cdi-refresh is enabled but {path} is still for driver "
        "{spec_drivers} (loaded: {driver})",
        "The refresh unit should have rewritten the spec when the driver changed; it did not "
        "run, or it failed (it waits for the driver to be ready at boot, and does not run on "
        "MIG changes). Containers get the old driver's libraries (see docker.cdi).",
        f"`{RESTART_REFRESH}`, then `{REFRESH_LOG}` if the spec is still old.",
        (FIX,), (RESTART_REFRESH, REFRESH_LOG)),
    "no_spec": Say(
        Status.FAIL, "the toolkit is in CDI mode but no CDI spec offers the NVIDIA GPUs",
        "{why}, so the nvidia runtime looks up `nvidia.com/gpu` devices in the CDI spec folders "
        "({dirs}); none offers them: containers fail with `unresolvable CDI devices "
        "nvidia.com/gpu=all`.",
        f"Generate the spec: `{REGENERATE}` (where the toolkit's nvidia-cdi-refresh units are "
        f"installed, `{RESTART_REFRESH}` does the same).", (FIX,), (REGENERATE,)),
    "spec_too_new": Say(
        Status.WARN, "{engine} {engine_version} cannot read the CDI spec {path} (cdiVersion "
        "{cdi_version})",
        "Toolkit 1.19.1 and newer write cdiVersion 0.7.0 specs; {engine} reads them from "
        "{needed} (toolkit#1940). Older versions reject the spec, so {engine} containers get "
        "no GPU.",
        f"Upgrade {{engine}} to {{needed}} or newer, or keep the toolkit below 1.19.1 and "
        f"regenerate the spec (`{REGENERATE}`).", commands=(REGENERATE,)),
    "mig_missing": Say(
        Status.WARN, "MIG is enabled on GPU {gpus} but the CDI spec lists no MIG devices",
        "nvidia-cdi-refresh does not run on MIG reconfiguration, so a spec generated before MIG "
        "was enabled offers whole GPUs only: `--device nvidia.com/gpu=0:0` is unresolvable, and "
        "whole-GPU devices of a MIG-enabled GPU cannot run CUDA work.",
        f"Regenerate the spec after each MIG change: `{REGENERATE}`.", (FIX,), (REGENERATE,)),
    "ok": Say(Status.PASS, "the toolkit injects in {mode} mode", OK_DETAILS),
    "ok_cdi_gpus": Say(Status.PASS, "the toolkit injects in {mode} mode; Docker serves "
                       "`--gpus` through CDI", OK_DETAILS),
    "ok_refresh": Say(Status.PASS, "the toolkit injects in {mode} mode; nvidia-cdi-refresh "
                      "keeps the spec current", OK_DETAILS),
    "ok_cdi_gpus_refresh": Say(Status.PASS, "the toolkit injects in {mode} mode; Docker serves "
                               "`--gpus` through CDI; nvidia-cdi-refresh keeps the spec current",
                               OK_DETAILS),
})


def engine_version(facts: Facts, name: str) -> str | None:
    """`NAME --version` of an installed engine (recorded as `NAME-version` in a host root)."""
    host = facts.host
    binary = host.which(name)
    if binary is None:
        return None
    result = host.run(f"{name}-version", [binary, "--version"], timeout=ENGINE_TIMEOUT)
    if result is None or not result.ok:
        return None
    # `containerd github.com/containerd/containerd v1.7.12 ...`, `crio version 1.30.0`
    match = re.search(r"\bv?(\d+\.\d+\.\d+)", result.stdout + result.stderr)
    return match.group(1) if match else None


class NvidiaCdiMode(Check):
    id = ID
    title = "The NVIDIA toolkit's mode, and CDI kept current"
    area = Area.CONTAINER
    order = 92
    sentences = SENTENCES

    def applies(self, facts: Facts) -> str | None:
        from gpudoctor.facts.applies import installed_toolkit_skip_reason

        return installed_toolkit_skip_reason(facts)

    def run(self, facts: Facts) -> Result:
        from gpudoctor.facts.nvidia_args import nvidia_ways
        from gpudoctor.facts.nvidia_layer import mode_for, nvidia_specs, refresh_units

        mode = mode_for(facts)
        ways = nvidia_ways(facts)
        specs = nvidia_specs(facts)
        shipped, enabled = refresh_units(facts)
        found = self.findings([
            f"toolkit mode: {mode.mode} ({mode.why})",
            "Docker `--gpus`: " + ("served through CDI (nvidia-cdi-hook)" if ways.gpus_via_cdi
                                   else "served by the legacy hook" if ways.gpus_driver
                                   else "not available"),
            "NVIDIA CDI specs: " + (", ".join(f"{s.path} (cdiVersion {s.cdi_version})"
                                              for s in specs) or "none"),
            "nvidia-cdi-refresh units: " + (", ".join(shipped) or "not installed")
            + (f"; enabled: {', '.join(enabled) or 'none'}" if shipped else ""),
        ])
        if shipped and not enabled:
            found.say("refresh_disabled", version=facts.toolkit.version,
                      units=", ".join(shipped))
        driver = facts.cdi.driver_version
        behind = [sp for sp in specs if sp.path.endswith("/cdi/nvidia.yaml") and driver
                  and sp.driver_versions and driver not in sp.driver_versions]
        if enabled and behind:
            found.say("refresh_behind", path=behind[0].path, driver=driver,
                      spec_drivers=", ".join(sorted(behind[0].driver_versions)))
        if mode.mode == "cdi" and not specs:
            found.say("no_spec", why=mode.why, dirs=", ".join(facts.cdi.dirs),
                      commands=(REGENERATE, RESTART_REFRESH) if shipped else None)
        for spec in specs:
            self._engines(facts, spec, found)
        self._mig(facts, specs, found)
        ok = "ok" + ("_cdi_gpus" if ways.gpus_via_cdi else "") + ("_refresh" if enabled else "")
        return found.verdict(ok, mode=mode.mode)

    def _engines(self, facts: Facts, spec: CdiSpec, found: Findings) -> None:
        from gpudoctor.facts.nvidia_layer import version_key

        v = spec.version_tuple
        if v is None or v < (0, 7, 0):
            return
        for name, needed in ENGINES_FOR_0_7:
            version = engine_version(facts, name)
            have = version_key(version)
            if have is None:
                continue
            found.evidence.append(f"{name}: {version}")
            if have < needed:
                found.say("spec_too_new", engine=name, engine_version=version, path=spec.path,
                          cdi_version=spec.cdi_version,
                          needed=".".join(str(n) for n in needed))

    def _mig(self, facts: Facts, specs: list[CdiSpec], found: Findings) -> None:
        from gpudoctor.facts.nvidia_layer import mig_enabled_gpus

        enabled = mig_enabled_gpus(facts)
        if not enabled or not specs:
            return
        found.evidence.append(f"nvidia-smi: MIG enabled on GPU {', '.join(enabled)}")
        if any(":" in name for s in specs for name in s.devices):
            return
        found.say("mig_missing", gpus=", ".join(enabled))
