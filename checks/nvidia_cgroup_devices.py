"""nvidia.cgroup_devices: GPU containers that will lose their GPUs on `systemctl daemon-reload`.

The toolkit's longest-open notice (toolkit#48, nvidia-docker#1730): with the systemd cgroup
driver, systemd rewrites a container's device rules from what it knows whenever units are
reloaded, and runc can only tell it about device files that have a /dev/char/MAJ:MIN link. GPUs
injected by the legacy hook have none (the driver's nodes are made by nvidia-modprobe, not
udev), so running containers suddenly get `Failed to initialize NVML: Unknown Error`.
Warned about before it happens; running containers that are exposed are named.
"""

from __future__ import annotations

from gpudoctor import TYPE_CHECKING
from gpudoctor.plugin import Area, Check, Result, Say, Sentences, Status

if TYPE_CHECKING:
    from typing import Any

    from gpudoctor.facts import Facts
    from gpudoctor.facts.nvidia_layer import NvmlExposure

ID = "nvidia.cgroup_devices"
CHAR_LINKS = "sudo nvidia-ctk system create-dev-char-symlinks --create-all"
CDI_GENERATE = "sudo nvidia-ctk cdi generate --output=/var/run/cdi/nvidia.yaml"
CGROUPFS_FIX = "sudo gpudoctor fix docker.cgroupfs_driver docker.reload"
FIXES = ("nvidia.dev_char_links",)
COMMANDS = (CHAR_LINKS, CDI_GENERATE, CGROUPFS_FIX)
REMEDY = (
    "Best: give GPUs through CDI (`docker run --device=nvidia.com/gpu=all`; "
    f"`{CDI_GENERATE}` makes the spec). Or make Docker use the cgroupfs driver "
    "(`\"exec-opts\": [\"native.cgroupdriver=cgroupfs\"]` in {config_path}, then "
    f"`{{restart}}`: `{CGROUPFS_FIX}` does both; the restart stops "
    f"running containers). Or create the /dev/char links (`{CHAR_LINKS}`) with a udev rule so "
    "they come back after a reboot. Containers already affected must be recreated (`docker rm "
    "-f NAME` and run again); `docker restart` is not enough for the ones that already lost "
    "their GPUs.")

SENTENCES = Sentences(ID, {
    "running_exposed": Say(
        Status.WARN, "{count} running GPU container(s) will lose their GPUs on the next "
        "`systemctl daemon-reload`: {names}",
        "{names} got their GPUs from the toolkit's legacy hook, which adds the device files to "
        "the container's cgroup behind runc's back. Docker uses the systemd cgroup driver, so "
        "the next `systemctl daemon-reload` (any package upgrade can run one) makes systemd "
        "rewrite their device rules from what runc told it; without /dev/char links for "
        "{missing} the GPUs are not among them and `nvidia-smi` inside says `Failed to "
        "initialize NVML: Unknown Error` (toolkit#48).", REMEDY, FIXES, COMMANDS),
    "legacy_systemd": Say(
        Status.WARN, "{ways} GPU containers will lose their GPUs on `systemctl daemon-reload` "
        "(systemd cgroup driver, no /dev/char links)",
        "Docker uses the systemd cgroup driver and GPUs given with {ways_or} are injected by "
        "the toolkit's legacy hook ({why}). runc tells systemd about devices through their "
        "/dev/char/MAJ:MIN links, and {missing} have none. When systemd reloads its units, it "
        "rewrites each container's device rules without the GPUs: `Failed to initialize NVML: "
        "Unknown Error` inside containers that worked (toolkit#48, nvidia-docker#1730).",
        REMEDY, FIXES, COMMANDS),
    "no_legacy": Say(
        Status.PASS, "no way of giving GPUs here uses the legacy hook: a daemon-reload keeps "
        "them",
        "Docker uses the systemd cgroup driver and {missing_count} NVIDIA device file(s) have "
        "no /dev/char link, but no working way of giving GPUs here uses the legacy hook "
        "({why}), so containers' device rules list the GPUs."),
    "not_systemd": Say(
        Status.PASS, "Docker uses the {driver} cgroup driver: `systemctl daemon-reload` does "
        "not touch containers' device rules",
        "The NVML `Unknown Error` after a daemon-reload happens only when systemd manages the "
        "containers' cgroups."),
    "links_present": Say(
        Status.PASS, "every NVIDIA device file has its /dev/char link ({count} checked): GPU "
        "containers keep their GPUs across a daemon-reload",
        "With the systemd cgroup driver runc tells systemd about devices by their "
        "/dev/char/MAJ:MIN links; they exist, so a reload keeps them."),
    "no_driver": Say(Status.SKIP, "the daemon does not report its cgroup driver"),
})


def _shown(items: list[str], limit: int = 6) -> str:
    return ", ".join(items[:limit]) + (f" and {len(items) - limit} more"
                                       if len(items) > limit else "")


class NvidiaCgroupDevices(Check):
    id = ID
    title = "GPU containers keep their GPUs across `systemctl daemon-reload`"
    area = Area.CONTAINER
    order = 95
    sentences = SENTENCES

    def applies(self, facts: Facts) -> str | None:
        from gpudoctor.facts.applies import nvidia_skip_reason

        skip = nvidia_skip_reason(facts)
        if skip:
            return skip
        d = facts.docker
        if not d.captured:
            return "the host root did not capture the Docker daemon (no `docker` in host.json)"
        if not d.reachable:
            return "the daemon does not answer (see docker.daemon)"
        if d.mode == "desktop":
            return "Docker Desktop runs containers in its own VM"
        return None

    def run(self, facts: Facts) -> Result:
        x: NvmlExposure = facts.nvml_exposure
        d = facts.docker
        found = self.findings([
            f"Docker cgroup driver: {x.cgroup_driver or 'not reported'} "
            f"(cgroup v{d.info.get('CgroupVersion', '?')})",
            f"toolkit mode: {x.mode.mode or 'none'} ({x.mode.why})",
            "ways that inject with the legacy hook: " + (", ".join(x.legacy_paths) or "none"),
        ])
        found.evidence += [f"{link.path} ({link.major}:{link.minor}): {link.link} "
                           + ("exists" if link.present else "missing") for link in x.links]
        if x.cgroup_driver is None:
            return found.verdict("no_driver")
        if not x.systemd:
            return found.verdict("not_systemd", driver=x.cgroup_driver)
        if not x.missing_links:
            return found.verdict("links_present", count=len(x.links))
        missing = [lk.path for lk in x.missing_links]
        values: dict[str, Any] = {"config_path": d.config_path, "restart": d.restart_command(),
                  "missing": _shown(missing, 4), "why": x.mode.why}
        if x.exposed_containers:
            names = [c.name for c in x.exposed_containers]
            found.evidence += [f"running container {c.name} ({c.image}): GPUs from "
                               + ("a `--gpus` request (legacy hook)" if c.injection == "hook"
                                  else "the nvidia runtime in legacy mode")
                               for c in x.exposed_containers]
            found.say("running_exposed", **values, count=len(names), names=_shown(names))
        if x.new_containers_exposed:
            found.say("legacy_systemd", **values, ways=" and ".join(x.legacy_paths),
                      ways_or=" or ".join(x.legacy_paths))
        return found.verdict("no_legacy", missing_count=len(missing), why=x.mode.why)
