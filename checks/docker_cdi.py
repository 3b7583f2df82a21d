"""docker.cdi: CDI spec files are valid and current, and the daemon has CDI on where it is used.

CDI is the newer way to hand devices to containers (`--device nvidia.com/gpu=all`; Docker 29.2+
also routes `--gpus` through it). A spec generated before a driver upgrade points at libraries
that no longer exist, and containers using it fail to start.
"""

from __future__ import annotations

from gpudoctor.facts import Facts
from gpudoctor.facts.cdi import CdiSpec, CdiState
from gpudoctor.facts.toolkit import daemon_hook_for
from gpudoctor.pasteable import quoted_commands
from gpudoctor.plugin import Area, Check, Findings, Result, Status

#: Device names listed in evidence and summaries before "and N more".
SHOWN_DEVICES = 8
REGENERATE = "sudo nvidia-ctk cdi generate --output=/var/run/cdi/nvidia.yaml"


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


def _regenerate_for(spec: CdiSpec) -> str:
    if spec.kind and spec.kind.startswith(("nvidia.com/", "management.nvidia.com/")):
        return (f"`sudo nvidia-ctk cdi generate --output={spec.path}` (or `sudo systemctl "
                "restart nvidia-cdi-refresh.service` where the toolkit is 1.18+)")
    return f"regenerate {spec.path} with the tool that wrote it, or remove it"


class DockerCdi(Check):
    id = "docker.cdi"
    title = "CDI device specs, and CDI in the Docker daemon"
    area = Area.CONTAINER
    order = 90

    def applies(self, facts: Facts) -> str | None:
        from gpudoctor.facts.engines import docker_absent_reason

        return docker_absent_reason(facts)

    def run(self, facts: Facts) -> Result:
        state: CdiState = facts.cdi
        d = facts.docker
        nvidia = facts.gpus.by_vendor("nvidia")
        found = Findings(evidence=[f"spec folders: {', '.join(state.dirs)} ({state.dirs_source})"])
        found.evidence += [f"{folder}: cannot be read" for folder in state.unreadable_dirs]
        found.evidence += [spec_line(s) for s in state.specs]
        found.evidence.append(f"daemon: {state.enabled_reason}")
        if state.driver_version:
            found.evidence.append(f"loaded NVIDIA driver: {state.driver_version}")
        if not state.specs:
            hint = (f" To use CDI for NVIDIA GPUs: `{REGENERATE}`." if nvidia else "")
            return Result.skip(
                f"CDI is not used on this host: no spec files in {', '.join(state.dirs)}"
                + ("; `--gpus` goes through the toolkit's hook" if nvidia else ""),
                evidence=found.evidence, details=hint.strip())
        for spec in state.broken_specs:
            found.add(
                Status.FAIL, f"the CDI spec {spec.path} cannot be used",
                f"{spec.path}: {spec.error}. Docker skips a spec it cannot parse, so the "
                "devices it should offer are unknown and `--device VENDOR/CLASS=NAME` fails "
                "with `unresolvable CDI devices`.",
                remedy=f"Fix or regenerate it: {_regenerate_for(spec)}.",
                commands=quoted_commands(_regenerate_for(spec)), id="docker.cdi.spec_unusable")
        for spec in state.stale_specs:
            shown = ", ".join(spec.missing[:5]) + (
                f" and {len(spec.missing) - 5} more" if len(spec.missing) > 5 else "")
            driver = ""
            if spec.driver_versions and state.driver_version and \
                    state.driver_version not in spec.driver_versions:
                driver = (f" It was generated for driver {', '.join(sorted(spec.driver_versions))}"
                          f"; the loaded driver is {state.driver_version}: a driver upgrade "
                          "left it behind.")
            found.add(
                Status.FAIL, f"the CDI spec {spec.path} is stale: "
                f"{len(spec.missing)} path(s) it references are gone",
                f"{spec.path} tells the runtime to mount or create {shown}, which no longer "
                f"exist.{driver} Containers given {_names(spec.qualified_devices)} fail to "
                "start (`error mounting ... no such file or directory`).",
                remedy=f"Regenerate it: {_regenerate_for(spec)}.",
                commands=quoted_commands(_regenerate_for(spec)), id="docker.cdi.spec_stale")
        for spec in state.valid_specs:
            if spec.stale or not spec.driver_versions or not state.driver_version:
                continue
            if state.driver_version not in spec.driver_versions:
                found.add(
                    Status.WARN, f"the CDI spec {spec.path} was made for another driver",
                    f"{spec.path} names libraries of driver "
                    f"{', '.join(sorted(spec.driver_versions))}, but the loaded NVIDIA driver is "
                    f"{state.driver_version}. The old files still exist, so containers start, "
                    "but they get libraries that do not match the kernel module (`Failed to "
                    "initialize NVML: Driver/library version mismatch`).",
                    remedy=f"Regenerate it: {_regenerate_for(spec)}.",
                commands=quoted_commands(_regenerate_for(spec)), id="docker.cdi.spec_other_driver")
            v = spec.version_tuple
            if v is not None and v >= (0, 7, 0) and d.at_least(26, 1) is False:
                found.add(
                    Status.FAIL, f"Docker {d.server_version} cannot read CDI spec version "
                    f"{spec.cdi_version}",
                    f"{spec.path} uses cdiVersion {spec.cdi_version} (written by toolkit "
                    "1.19.1 and newer), which needs Docker 26.1 or newer.",
                    remedy="Upgrade Docker, or pin the toolkit below 1.19.1 and regenerate "
                           "the spec.", id="docker.cdi.spec_version_too_new")
        self._daemon_side(facts, state, found, bool(nvidia))
        devices = state.devices
        return found.result(
            f"CDI specs offer {_names(devices) or 'no devices'}"
            + ("; the daemon has CDI on" if state.enabled else ""),
            f"Spec files in {', '.join(state.dirs)} are valid and every path they reference "
            f"exists. {state.enabled_reason[0].upper() + state.enabled_reason[1:]}.")

    def _daemon_side(self, facts: Facts, state: CdiState, found: Findings,
                     nvidia: bool) -> None:
        d = facts.docker
        if state.enabled is not False:
            return
        gpus_ok = daemon_hook_for(facts).registered if nvidia else None
        offers_nvidia = any(n.startswith("nvidia.com/gpu=") for n in state.devices)
        if state.supported is False:
            if nvidia and offers_nvidia and not gpus_ok:
                found.add(
                    Status.WARN, f"CDI specs exist but Docker {d.server_version} cannot use CDI",
                    f"{state.enabled_reason}. `--device nvidia.com/gpu=all` is not available, "
                    "and `--gpus` does not work either (see nvidia.toolkit).",
                    remedy="Upgrade Docker to 25 or newer, or make `--gpus` work (nvidia.toolkit).",
                    id="docker.cdi.docker_too_old")
            return
        if nvidia and offers_nvidia and not gpus_ok:
            found.add(
                Status.WARN, "CDI specs offer the GPUs but the daemon has CDI off",
                f"{state.enabled_reason}. `docker run --device nvidia.com/gpu=all` fails with "
                "`could not select device driver \"cdi\" with capabilities: []`, and `--gpus` "
                "does not work here either (see nvidia.toolkit).",
                remedy=(f"Add `\"features\": {{\"cdi\": true}}` to {d.config_path} (keep its "
                        f"other features) and `{d.restart_command()}`: CDI is registered only "
                        "at start, a reload is not enough."),
                commands=(d.restart_command(),), id="docker.cdi.disabled")
