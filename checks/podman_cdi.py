"""podman.cdi: Podman can hand this host's GPUs to a container.

NVIDIA: a CDI spec in a folder Podman reads offers `nvidia.com/gpu=all`, in a CDI format this
Podman parses, pointing at files that exist; no legacy `oci-nvidia-hook.json` injects the GPU a
second time. AMD/Intel, rootless: `--group-add keep-groups` needs crun. Podman ignores
`--gpus` (it exists for Docker compatibility), so `--device nvidia.com/gpu=all` is the way.
"""

from __future__ import annotations

from gpudoctor.facts import Facts
from gpudoctor.facts.podman import PodmanState
from gpudoctor.plugin import Area, Check, Findings, Result, Status

GENERATE = "sudo nvidia-ctk cdi generate --output=/etc/cdi/nvidia.yaml"


class PodmanCdi(Check):
    id = "podman.cdi"
    title = "Podman can give containers the GPUs (CDI, groups)"
    area = Area.CONTAINER
    order = 120

    def applies(self, facts: Facts) -> str | None:
        if not facts.podman.installed:
            return "Podman is not installed"
        if not facts.gpus.gpus or not any(g.selected for g in facts.gpus.gpus):
            return "no GPU is selected for containers"
        return None

    def run(self, facts: Facts) -> Result:
        p = facts.podman
        found = Findings(evidence=[
            f"podman {p.version or '?'} ({p.version_evidence}), {p.mode}"
            + (f" for {p.user}" if p.user else ""),
            f"CDI spec folders: {', '.join(p.spec_dirs)} ({p.spec_dirs_source})",
            f"OCI runtime: {p.runtime or 'none found'} ({p.runtime_source or '-'})",
            *[f"containers.conf: {f}" for f in p.conf_files]])
        for spec in p.specs:
            found.evidence.append(f"{spec.path}: " + (spec.error or (
                f"cdiVersion {spec.cdi_version}, kind {spec.kind}, devices "
                f"{', '.join(spec.devices) or 'none'}")))
        for err in p.conf_errors:
            found.add(Status.FAIL, f"{err.split(':')[0]} is not valid TOML",
                      f"{err}. Every podman command fails while this file cannot be parsed.",
                      id="podman.cdi.bad_conf")
        if facts.gpus.by_vendor("nvidia"):
            self._nvidia(facts, p, found)
        if facts.gpus.by_vendor("amd") or facts.gpus.by_vendor("intel"):
            self._groups(facts, p, found)
        args = " ".join(facts.run_args.get("podman", []))
        return found.result(f"Podman {p.version or ''} can give the GPUs: podman run "
                            f"{args}".replace("  ", " "),
                            f"Podman ({p.mode}) reads CDI specs from {', '.join(p.spec_dirs)}; "
                            "`--gpus` is accepted only for Docker compatibility and gives no "
                            "GPU on Podman, so use the arguments shown.")

    @staticmethod
    def _nvidia(facts: Facts, p: PodmanState, found: Findings) -> None:
        if p.cdi_supported is False:
            found.add(Status.FAIL, f"Podman {p.version} predates CDI (4.1)",
                      f"Podman {p.version} cannot resolve `--device nvidia.com/gpu=all` (it "
                      "fails with `stat nvidia.com/gpu=all: no such file or directory`).",
                      remedy="Upgrade Podman to 4.1 or newer.", id="podman.cdi.too_old")
            return
        usable = [s for s in p.specs if s.error is None and "nvidia.com/gpu=all"
                  in s.qualified_devices]
        if not usable:
            found.add(Status.FAIL, "no CDI spec in Podman's folders offers nvidia.com/gpu=all",
                      f"Podman looks in {', '.join(p.spec_dirs)} ({p.spec_dirs_source}) and "
                      "finds no NVIDIA spec: `podman run --device nvidia.com/gpu=all` fails with "
                      "`unresolvable CDI devices nvidia.com/gpu=all`.",
                      remedy=f"`{GENERATE}`", id="podman.cdi.no_spec", commands=(GENERATE,))
        for spec in usable:
            if p.reads_spec_version(spec) is False:
                found.add(Status.FAIL, f"{spec.path} is CDI {spec.cdi_version}, which Podman "
                          f"{p.version} cannot read",
                          f"CDI {spec.cdi_version} (written by toolkit 1.19.1 and later) needs "
                          f"Podman 5.1; Podman {p.version} rejects the file (`json: unknown "
                          "field \"additionalGids\"`) and reports `unresolvable CDI devices`.",
                          remedy="Upgrade Podman to 5.1 or newer, or regenerate the spec with "
                          "toolkit 1.19.0 or older.", id="podman.cdi.spec_too_new")
            if spec.missing:
                found.add(Status.FAIL, f"{spec.path} points at {len(spec.missing)} file(s) "
                          "that do not exist", "A spec made for another driver: "
                          f"{', '.join(spec.missing[:3])} ... are gone, so containers fail to "
                          "start.", remedy=f"`sudo nvidia-ctk cdi generate --output={spec.path}`",
                          id="podman.cdi.stale_spec",
                          commands=(f"sudo nvidia-ctk cdi generate --output={spec.path}",))
            if p.mode == "rootless":
                st = facts.host.stat(spec.path)
                if st is not None and not st.mode & 0o004:
                    found.add(Status.FAIL, f"{spec.path} is not readable by {p.user}",
                              f"Rootless Podman reads the spec as {p.user}; mode "
                              f"{st.mode_octal} hides it, so the device is unresolvable.",
                              remedy=f"`sudo chmod 644 {spec.path}`",
                              id="podman.cdi.spec_unreadable",
                              commands=(f"sudo chmod 644 {spec.path}",))
        for hook in p.legacy_hooks:
            found.add(Status.WARN, f"the legacy NVIDIA OCI hook {hook} is installed",
                      f"{hook} (from old nvidia-container-toolkit installs) makes Podman run "
                      "nvidia-container-runtime-hook for containers as well as CDI, which "
                      "injects the GPU twice and fails or mixes libraries.",
                      remedy=f"`sudo rm {hook}` and use CDI only.", id="podman.cdi.legacy_hook",
                      commands=(f"sudo rm {hook}",))

    @staticmethod
    def _groups(facts: Facts, p: PodmanState, found: Findings) -> None:
        if p.mode != "rootless":
            return
        if p.runtime and p.runtime != "crun":
            found.add(Status.WARN, f"rootless Podman with {p.runtime} cannot keep your groups",
                      "A rootless container gets the render group only through "
                      "`--group-add keep-groups`, which only crun supports; with "
                      f"{p.runtime} /dev/kfd and the render nodes are denied.",
                      remedy="Install crun and set `runtime = \"crun\"` under [engine] in "
                      "containers.conf.", id="podman.cdi.keep_groups_needs_crun")
