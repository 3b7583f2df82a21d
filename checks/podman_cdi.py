"""podman.cdi: Podman can hand this host's GPUs to a container.

NVIDIA: a CDI spec in a folder Podman reads offers `nvidia.com/gpu=all`, in a CDI format this
Podman parses, pointing at files that exist; no legacy `oci-nvidia-hook.json` injects the GPU a
second time. AMD/Intel, rootless: `--group-add keep-groups` needs crun. Podman ignores
`--gpus` (it exists for Docker compatibility), so `--device nvidia.com/gpu=all` is the way.
"""

from __future__ import annotations

from gpudoctor import TYPE_CHECKING
from gpudoctor.plugin import Area, Check, Findings, Result, Say, Sentences, Status

if TYPE_CHECKING:
    from gpudoctor.facts import Facts
    from gpudoctor.facts.podman import PodmanState

ID = "podman.cdi"
GENERATE = "sudo nvidia-ctk cdi generate --output=/etc/cdi/nvidia.yaml"

SENTENCES = Sentences(ID, {
    "bad_conf": Say(Status.FAIL, "{path} is not valid TOML",
                    "{error}. Every podman command fails while this file cannot be parsed."),
    "too_old": Say(Status.FAIL, "Podman {version} predates CDI (4.1)",
                   "Podman {version} cannot resolve `--device nvidia.com/gpu=all` (it fails "
                   "with `stat nvidia.com/gpu=all: no such file or directory`).",
                   "Upgrade Podman to 4.1 or newer."),
    "no_spec": Say(Status.FAIL, "no CDI spec in Podman's folders offers nvidia.com/gpu=all",
                   "Podman looks in {dirs} ({dirs_source}) and finds no NVIDIA spec: `podman "
                   "run --device nvidia.com/gpu=all` fails with `unresolvable CDI devices "
                   "nvidia.com/gpu=all`.", f"`{GENERATE}`", commands=(GENERATE,)),
    "spec_too_new": Say(
        Status.FAIL, "{path} is CDI {cdi_version}, which Podman {version} cannot read",
        "CDI {cdi_version} (written by toolkit 1.19.1 and later) needs Podman 5.1; Podman "
        "{version} rejects the file (`json: unknown field \"additionalGids\"`) and reports "
        "`unresolvable CDI devices`.",
        "Upgrade Podman to 5.1 or newer, or regenerate the spec with toolkit 1.19.0 or older."),
    "stale_spec": Say(
        Status.FAIL, "{path} points at {count} file(s) that do not exist",
        "A spec made for another driver: {missing} ... are gone, so containers fail to start.",
        "`sudo nvidia-ctk cdi generate --output={path}`",
        commands=("sudo nvidia-ctk cdi generate --output={path}",)),
    "spec_unreadable": Say(
        Status.FAIL, "{path} is not readable by {user}",
        "Rootless Podman reads the spec as {user}; mode {mode} hides it, so the device is "
        "unresolvable.", "`sudo chmod 644 {path}`", commands=("sudo chmod 644 {path}",)),
    "legacy_hook": Say(
        Status.WARN, "the legacy NVIDIA OCI hook {hook} is installed",
        "{hook} (from old nvidia-container-toolkit installs) makes Podman run "
        "nvidia-container-runtime-hook for containers as well as CDI, which injects the GPU "
        "twice and fails or mixes libraries.",
        "`sudo rm {hook}` and use CDI only.", commands=("sudo rm {hook}",)),
    "keep_groups_needs_crun": Say(
        Status.WARN, "rootless Podman with {runtime} cannot keep your groups",
        "A rootless container gets the render group only through `--group-add keep-groups`, "
        "which only crun supports; with {runtime} /dev/kfd and the render nodes are denied.",
        "Install crun and set `runtime = \"crun\"` under [engine] in containers.conf."),
    "ok": Say(Status.PASS, "{podman} can give the GPUs: {command}",
              "Podman ({mode}) reads CDI specs from {dirs}; `--gpus` is accepted only for "
              "Docker compatibility and gives no GPU on Podman, so use the arguments shown."),
})


class PodmanCdi(Check):
    id = ID
    title = "Podman can give containers the GPUs (CDI, groups)"
    area = Area.CONTAINER
    order = 120
    sentences = SENTENCES

    def applies(self, facts: Facts) -> str | None:
        if not facts.podman.installed:
            return "Podman is not installed"
        if not facts.gpus.gpus or not any(g.selected for g in facts.gpus.gpus):
            return "no GPU is selected for containers"
        return None

    def run(self, facts: Facts) -> Result:
        p = facts.podman
        found = self.findings([
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
            found.say("bad_conf", path=err.split(":")[0], error=err)
        if facts.gpus.by_vendor("nvidia"):
            self._nvidia(facts, p, found)
        if facts.gpus.by_vendor("amd") or facts.gpus.by_vendor("intel"):
            self._groups(p, found)
        return found.verdict(
            "ok", podman=f"Podman {p.version}" if p.version else "Podman", mode=p.mode,
            command=" ".join(["podman run", *facts.run_args.get("podman", [])]),
            dirs=", ".join(p.spec_dirs))

    @staticmethod
    def _nvidia(facts: Facts, p: PodmanState, found: Findings) -> None:
        if p.cdi_supported is False:
            found.say("too_old", version=p.version)
            return
        usable = [s for s in p.specs if s.error is None and "nvidia.com/gpu=all"
                  in s.qualified_devices]
        if not usable:
            found.say("no_spec", dirs=", ".join(p.spec_dirs), dirs_source=p.spec_dirs_source)
        for spec in usable:
            if p.reads_spec_version(spec) is False:
                found.say("spec_too_new", path=spec.path, cdi_version=spec.cdi_version,
                          version=p.version)
            if spec.missing:
                found.say("stale_spec", path=spec.path, count=len(spec.missing),
                          missing=", ".join(spec.missing[:3]))
            if p.mode == "rootless":
                st = facts.host.stat(spec.path)
                if st is not None and not st.mode & 0o004:
                    found.say("spec_unreadable", path=spec.path, user=p.user,
                              mode=st.mode_octal)
        for hook in p.legacy_hooks:
            found.say("legacy_hook", hook=hook)

    @staticmethod
    def _groups(p: PodmanState, found: Findings) -> None:
        if p.mode != "rootless":
            return
        if p.runtime and p.runtime != "crun":
            found.say("keep_groups_needs_crun", runtime=p.runtime)
