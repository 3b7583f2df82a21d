"""docker.cdi: CDI spec files are valid and current, and the daemon has CDI on where it is used.

CDI is the newer way to hand devices to containers (`--device nvidia.com/gpu=all`; Docker 29.2+
also routes `--gpus` through it). A spec generated before a driver upgrade points at libraries
that no longer exist, and containers using it fail to start.
"""

from __future__ import annotations

from gpudoctor import TYPE_CHECKING
from gpudoctor.plugin import Area, Check, Findings, Result, Say, Sentences, Status, fill

if TYPE_CHECKING:
    from typing import Any

    from gpudoctor.facts import Facts
    from gpudoctor.facts.cdi import CdiSpec, CdiState

ID = "docker.cdi"
#: Device names listed in evidence and summaries before "and N more".
SHOWN_DEVICES = 8
REGENERATE = "sudo nvidia-ctk cdi generate --output=/var/run/cdi/nvidia.yaml"
#: How a spec is made again (`{regenerate}`): NVIDIA's by nvidia-ctk, others by their tool.
REGENERATE_NVIDIA = ("`sudo nvidia-ctk cdi generate --output={path}` (or `sudo systemctl "
                     "restart nvidia-cdi-refresh.service` where the toolkit is 1.18+)")
REGENERATE_OTHER = "regenerate {path} with the tool that wrote it, or remove it"
STALE = ("{path} tells the runtime to mount or create {shown}, which no longer exist.{upgrade} "
         "Containers given {devices} fail to start (`error mounting ... no such file or "
         "directory`).")
OK = ("Spec files in {dirs} are valid and every path they reference exists. "
      "{enabled_reason}.")

SENTENCES = Sentences(ID, {
    "spec_unusable": Say(
        Status.FAIL, "the CDI spec {path} cannot be used",
        "{path}: {error}. Docker skips a spec it cannot parse, so the devices it should offer "
        "are unknown and `--device VENDOR/CLASS=NAME` fails with `unresolvable CDI devices`.",
        "Fix or regenerate it: {regenerate}."),
    "spec_stale": Say(
        Status.FAIL, "the CDI spec {path} is stale: {count} path(s) it references are gone",
        STALE.replace("{upgrade}", ""),
        "Regenerate it: {regenerate}."),
    "spec_stale_after_upgrade": Say(
        Status.FAIL, "the CDI spec {path} is stale: {count} path(s) it references are gone",
        STALE.replace("{upgrade}", " It was generated for driver {spec_drivers}; the loaded "
                      "driver is {driver}: a driver upgrade left it behind."),
        "Regenerate it: {regenerate}.", finding="spec_stale"),
    "spec_other_driver": Say(
        Status.WARN, "the CDI spec {path} was made for another driver",
        "{path} names libraries of driver {spec_drivers}, but the loaded NVIDIA driver is "
        "{driver}. The old files still exist, so containers start, but they get libraries "
        "that do not match the kernel module (`Failed to initialize NVML: Driver/library "
        "version mismatch`).", "Regenerate it: {regenerate}."),
    "spec_version_too_new": Say(
        Status.FAIL, "Docker {version} cannot read CDI spec version {cdi_version}",
        "{path} uses cdiVersion {cdi_version} (written by toolkit 1.19.1 and newer), which "
        "needs Docker 26.1 or newer.",
        "Upgrade Docker, or pin the toolkit below 1.19.1 and regenerate the spec."),
    "docker_too_old": Say(
        Status.WARN, "CDI specs exist but Docker {version} cannot use CDI",
        "{enabled_reason}. `--device nvidia.com/gpu=all` is not available, and `--gpus` does "
        "not work either (see nvidia.toolkit).",
        "Upgrade Docker to 25 or newer, or make `--gpus` work (nvidia.toolkit)."),
    "disabled": Say(
        Status.WARN, "CDI specs offer the GPUs but the daemon has CDI off",
        "{enabled_reason}. `docker run --device nvidia.com/gpu=all` fails with `could not "
        "select device driver \"cdi\" with capabilities: []`, and `--gpus` does not work here "
        "either (see nvidia.toolkit).",
        "Add `\"features\": {\"cdi\": true}` to {config_path} (keep its other features) and "
        "`{restart}`: CDI is registered only at start, a reload is not enough.",
        commands=("{restart}",)),
    "ok": Say(Status.PASS, "CDI specs offer {devices}", OK),
    "ok_enabled": Say(Status.PASS, "CDI specs offer {devices}; the daemon has CDI on", OK),
    "unused": Say(Status.SKIP, "CDI is not used on this host: no spec files in {dirs}"),
    "unused_nvidia": Say(
        Status.SKIP, "CDI is not used on this host: no spec files in {dirs}; `--gpus` goes "
        "through the toolkit's hook", f"To use CDI for NVIDIA GPUs: `{REGENERATE}`."),
})


def _names(devices: list[str]) -> str:
    """Device names, `...=all` first (what people use), the rest counted past a few."""
    devices = sorted(devices, key=lambda n: (not n.endswith("=all"), devices.index(n)))
    shown = ", ".join(devices[:SHOWN_DEVICES])
    more = len(devices) - SHOWN_DEVICES
    return shown + (f" and {more} more" if more > 0 else "")


def spec_line(spec: CdiSpec) -> str:
    if spec.error:
        return f"{spec.path}: unusable: {spec.error}"
    text = (f"{spec.path}: cdiVersion {spec.cdi_version or '?'}, kind {spec.kind}, devices "
            f"{_names(spec.qualified_devices) or 'none'}")
    if spec.driver_versions:
        text += f"; libraries of driver {', '.join(sorted(spec.driver_versions))}"
    if spec.missing:
        text += f"; {len(spec.missing)} of {spec.referenced} referenced paths are gone"
    return text


def _regenerate(spec: CdiSpec) -> dict[str, Any]:
    """`{regenerate}` for this spec, with its commands and the fix that can do it."""
    from gpudoctor.pasteable import quoted_commands

    nvidia_kind = bool(spec.kind and spec.kind.startswith(
        ("nvidia.com/", "management.nvidia.com/")))
    text = fill(REGENERATE_NVIDIA if nvidia_kind else REGENERATE_OTHER, {"path": spec.path})
    # NVIDIA's GPU specs can be regenerated by gpudoctor (nvidia.cdi_regenerate)
    fixes = (("nvidia.cdi_regenerate",) if spec.kind and spec.kind.startswith("nvidia.com/")
             else ())
    return {"regenerate": text, "commands": quoted_commands(text), "fixes": fixes}


class DockerCdi(Check):
    id = ID
    title = "CDI device specs, and CDI in the Docker daemon"
    area = Area.CONTAINER
    order = 90
    sentences = SENTENCES

    def applies(self, facts: Facts) -> str | None:
        from gpudoctor.facts.engines import docker_absent_reason

        return docker_absent_reason(facts)

    def run(self, facts: Facts) -> Result:
        state: CdiState = facts.cdi
        d = facts.docker
        nvidia = facts.gpus.by_vendor("nvidia")
        found = self.findings([f"spec folders: {', '.join(state.dirs)} ({state.dirs_source})"])
        found.evidence += [f"{folder}: cannot be read" for folder in state.unreadable_dirs]
        found.evidence += [spec_line(s) for s in state.specs]
        found.evidence.append(f"daemon: {state.enabled_reason}")
        if state.driver_version:
            found.evidence.append(f"loaded NVIDIA driver: {state.driver_version}")
        dirs = ", ".join(state.dirs)
        if not state.specs:
            return found.verdict("unused_nvidia" if nvidia else "unused", dirs=dirs)
        for spec in state.broken_specs:
            regen = _regenerate(spec)
            found.say("spec_unusable", path=spec.path, error=spec.error,
                      regenerate=regen["regenerate"], commands=regen["commands"])
        for spec in state.stale_specs:
            shown = ", ".join(spec.missing[:5]) + (
                f" and {len(spec.missing) - 5} more" if len(spec.missing) > 5 else "")
            upgraded = bool(spec.driver_versions and state.driver_version and
                            state.driver_version not in spec.driver_versions)
            found.say("spec_stale_after_upgrade" if upgraded else "spec_stale",
                      path=spec.path, count=len(spec.missing), shown=shown,
                      devices=_names(spec.qualified_devices),
                      spec_drivers=", ".join(sorted(spec.driver_versions)),
                      driver=state.driver_version, **_regenerate(spec))
        for spec in state.valid_specs:
            if spec.stale or not spec.driver_versions or not state.driver_version:
                continue
            if state.driver_version not in spec.driver_versions:
                found.say("spec_other_driver", path=spec.path,
                          spec_drivers=", ".join(sorted(spec.driver_versions)),
                          driver=state.driver_version, **_regenerate(spec))
            v = spec.version_tuple
            if v is not None and v >= (0, 7, 0) and d.at_least(26, 1) is False:
                found.say("spec_version_too_new", path=spec.path, version=d.server_version,
                          cdi_version=spec.cdi_version)
        self._daemon_side(facts, state, found, bool(nvidia))
        return found.verdict(
            "ok_enabled" if state.enabled else "ok", devices=_names(state.devices) or
            "no devices", dirs=dirs,
            enabled_reason=state.enabled_reason[0].upper() + state.enabled_reason[1:])

    def _daemon_side(self, facts: Facts, state: CdiState, found: Findings,
                     nvidia: bool) -> None:
        from gpudoctor.facts.toolkit import daemon_hook_for

        d = facts.docker
        if state.enabled is not False:
            return
        gpus_ok = daemon_hook_for(facts).registered if nvidia else None
        offers_nvidia = any(n.startswith("nvidia.com/gpu=") for n in state.devices)
        if not (nvidia and offers_nvidia and not gpus_ok):
            return
        found.say("docker_too_old" if state.supported is False else "disabled",
                  version=d.server_version, enabled_reason=state.enabled_reason,
                  config_path=d.config_path, restart=d.restart_command())
