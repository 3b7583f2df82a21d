"""nvidia.cgroup_devices: GPU containers that will lose their GPUs on `systemctl daemon-reload`.

The toolkit's longest-open notice (toolkit#48, nvidia-docker#1730): with the systemd cgroup
driver, systemd rewrites a container's device rules from what it knows whenever units are
reloaded, and runc can only tell it about device files that have a /dev/char/MAJ:MIN link. GPUs
injected by the legacy hook have none (the driver's nodes are made by nvidia-modprobe, not
udev), so running containers suddenly get `Failed to initialize NVML: Unknown Error`.
Warned about before it happens; running containers that are exposed are named.
"""

from __future__ import annotations

from gpudoctor.facts import Facts
from gpudoctor.facts.nvidia_layer import NvmlExposure
from gpudoctor.facts.toolkit import nvidia_skip_reason
from gpudoctor.plugin import Area, Check, Findings, Result, Status

CHAR_LINKS = "sudo nvidia-ctk system create-dev-char-symlinks --create-all"
CDI_GENERATE = "sudo nvidia-ctk cdi generate --output=/var/run/cdi/nvidia.yaml"


def _shown(items: list[str], limit: int = 6) -> str:
    return ", ".join(items[:limit]) + (f" and {len(items) - limit} more"
                                       if len(items) > limit else "")


class NvidiaCgroupDevices(Check):
    id = "nvidia.cgroup_devices"
    title = "GPU containers keep their GPUs across `systemctl daemon-reload`"
    area = Area.CONTAINER
    order = 95

    def applies(self, facts: Facts) -> str | None:
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
        found = Findings(evidence=[
            f"Docker cgroup driver: {x.cgroup_driver or 'not reported'} "
            f"(cgroup v{d.info.get('CgroupVersion', '?')})",
            f"toolkit mode: {x.mode.mode or 'none'} ({x.mode.why})",
            "ways that inject with the legacy hook: " + (", ".join(x.legacy_paths) or "none"),
        ])
        found.evidence += [f"{link.path} ({link.major}:{link.minor}): {link.link} "
                           + ("exists" if link.present else "missing") for link in x.links]
        if x.cgroup_driver is None:
            return Result.skip("the daemon does not report its cgroup driver",
                               evidence=found.evidence)
        if not x.systemd:
            return Result.passed(
                f"Docker uses the {x.cgroup_driver} cgroup driver: `systemctl daemon-reload` "
                "does not touch containers' device rules", evidence=found.evidence,
                details="The NVML `Unknown Error` after a daemon-reload happens only when "
                        "systemd manages the containers' cgroups.")
        if not x.missing_links:
            return Result.passed(
                f"every NVIDIA device file has its /dev/char link ({len(x.links)} checked): "
                "GPU containers keep their GPUs across a daemon-reload",
                evidence=found.evidence,
                details="With the systemd cgroup driver runc tells systemd about devices by "
                        "their /dev/char/MAJ:MIN links; they exist, so a reload keeps them.")
        if x.exposed_containers:
            self._containers(facts, x, found)
        if x.new_containers_exposed:
            self._new_containers(facts, x, found)
        return found.result(
            "no way of giving GPUs here uses the legacy hook: a daemon-reload keeps them",
            f"Docker uses the systemd cgroup driver and {len(x.missing_links)} NVIDIA device "
            "file(s) have no /dev/char link, but no working way of giving GPUs here uses the "
            f"legacy hook ({x.mode.why}), so containers' device rules list the GPUs.")

    @staticmethod
    def _remedies(facts: Facts) -> tuple[str, tuple[str, ...], tuple[str, ...]]:
        d = facts.docker
        remedy = (
            "Best: give GPUs through CDI (`docker run --device=nvidia.com/gpu=all`; "
            f"`{CDI_GENERATE}` makes the spec). Or make Docker use the cgroupfs driver "
            f"(`\"exec-opts\": [\"native.cgroupdriver=cgroupfs\"]` in {d.config_path}, then "
            f"`{d.restart_command()}`: `sudo gpudoctor fix docker.cgroupfs_driver docker.reload` "
            "does both; the restart stops running containers). Or create the /dev/char links "
            f"(`{CHAR_LINKS}`) with a "
            "udev rule so they come back after a reboot. Containers already affected must be "
            "recreated (`docker rm -f NAME` and run again); `docker restart` is not enough "
            "for the ones that already lost their GPUs.")
        fixes = ("nvidia.dev_char_links",)
        commands = (CHAR_LINKS, CDI_GENERATE,
                    "sudo gpudoctor fix docker.cgroupfs_driver docker.reload")
        return remedy, fixes, commands

    def _containers(self, facts: Facts, x: NvmlExposure, found: Findings) -> None:
        names = [c.name for c in x.exposed_containers]
        found.evidence += [f"running container {c.name} ({c.image}): GPUs from "
                           + ("a `--gpus` request (legacy hook)" if c.injection == "hook" else
                              "the nvidia runtime in legacy mode") for c in x.exposed_containers]
        remedy, fixes, commands = self._remedies(facts)
        found.add(
            Status.WARN, f"{len(names)} running GPU container(s) will lose their GPUs on the "
            f"next `systemctl daemon-reload`: {_shown(names)}",
            f"{_shown(names)} got their GPUs from the toolkit's legacy hook, which adds the "
            "device files to the container's cgroup behind runc's back. Docker uses the systemd "
            "cgroup driver, so the next `systemctl daemon-reload` (any package upgrade can run "
            "one) makes systemd rewrite their device rules from what runc told it; without "
            f"/dev/char links for {_shown([lk.path for lk in x.missing_links], 4)} the GPUs are "
            "not among them and `nvidia-smi` inside says `Failed to initialize NVML: Unknown "
            "Error` (toolkit#48).",
            remedy=remedy, fixes=fixes, id=f"{self.id}.running_exposed", commands=commands)

    def _new_containers(self, facts: Facts, x: NvmlExposure, found: Findings) -> None:
        remedy, fixes, commands = self._remedies(facts)
        missing = [lk.path for lk in x.missing_links]
        found.add(
            Status.WARN, f"{' and '.join(x.legacy_paths)} GPU containers will lose their GPUs "
            "on `systemctl daemon-reload` (systemd cgroup driver, no /dev/char links)",
            f"Docker uses the systemd cgroup driver and GPUs given with "
            f"{' or '.join(x.legacy_paths)} are injected by the toolkit's legacy hook "
            f"({x.mode.why}). runc tells systemd about devices through their /dev/char/MAJ:MIN "
            f"links, and {_shown(missing, 4)} have none. When systemd reloads its units, it "
            "rewrites each container's device rules without the GPUs: `Failed to initialize "
            "NVML: Unknown Error` inside containers that worked (toolkit#48, "
            "nvidia-docker#1730).",
            remedy=remedy, fixes=fixes, id=f"{self.id}.legacy_systemd", commands=commands)
