"""containerd.nvidia_runtime: the configuration containerd really loads (config.toml plus its
imports, merged the way that containerd version merges them) declares an `nvidia` runtime
whose binary exists, as the default where a Kubernetes device plugin needs it, with
`SystemdCgroup` consistent between runc, the nvidia runtime and the kubelet."""

from __future__ import annotations

from gpudoctor import TYPE_CHECKING
from gpudoctor.plugin import Area, Check, Findings, Result, Say, Sentences, Status

if TYPE_CHECKING:
    from typing import Any

    from gpudoctor.facts import Facts
    from gpudoctor.facts.containerd import ContainerdState

ID = "containerd.nvidia_runtime"
CONFIGURE = "containerd.configure_nvidia_runtime"
RESTART = "containerd.restart"
RESTART_CMD = "sudo systemctl restart containerd"
SHADOW = ("containerd {version} (config version {config_version}) takes each plugin section of "
          "an imported file whole: `{cri}` now comes from {source} alone")
SHADOW_RUNTIMES = (SHADOW + ", so the runtimes {config} declares ({lost}) and their "
                   "SystemdCgroup are gone and pods that use them fail. `containerd config "
                   "dump` shows it.")
SETTINGS_TOO = " Its other settings are gone too: {settings}."
SHADOW_REMEDY = ("Put the complete CRI section into {source} (gpudoctor's fix writes it that "
                 "way), or declare the nvidia runtime in the main file.")

SENTENCES = Sentences(ID, {
    "bad_toml": Say(Status.FAIL, "{path} is not valid TOML",
                    "{path}: {error}. containerd refuses to start with it, and gpudoctor never "
                    "rewrites a file it cannot parse.",
                    f"Correct {{path}}, then `{RESTART_CMD}`."),
    "cri_disabled": Say(
        Status.FAIL, "the CRI plugin is disabled in {config}",
        "`disabled_plugins` lists the CRI plugin (Docker's containerd.io package ships it that "
        "way), so the kubelet cannot start any pod.",
        f"Remove \"cri\" from disabled_plugins in {{config}}, then `{RESTART_CMD}`.",
        commands=(RESTART_CMD,)),
    "dropin_drops_runtimes": Say(
        Status.FAIL, "{source} replaces containerd's whole CRI section, dropping {lost}",
        SHADOW_RUNTIMES, SHADOW_REMEDY, (CONFIGURE, RESTART)),
    "dropin_drops_runtimes_and_settings": Say(
        Status.FAIL, "{source} replaces containerd's whole CRI section, dropping {lost} and "
        "{count} other setting(s)",
        SHADOW_RUNTIMES + SETTINGS_TOO, SHADOW_REMEDY, (CONFIGURE, RESTART),
        finding="dropin_drops_runtimes"),
    "dropin_drops_settings": Say(
        Status.FAIL, "{source} replaces containerd's whole CRI section: {count} setting(s) of "
        "{config} are lost",
        SHADOW + ". `containerd config dump` shows it." + SETTINGS_TOO, SHADOW_REMEDY,
        (CONFIGURE, RESTART), finding="dropin_drops_runtimes"),
    "dropin_not_imported": Say(
        Status.FAIL, "the nvidia runtime is declared in {dropin}, which containerd does not "
        "import",
        "{dropin} declares the nvidia runtime, but {config}'s `imports` do not name it, so "
        "containerd never reads it (toolkit 1.18.0 wrote its drop-in to /etc/containerd/config.d "
        "instead of conf.d).",
        f"`{{configure}}` then `{RESTART_CMD}` (gpudoctor's fix writes conf.d/99-nvidia.toml "
        "and imports it).", (CONFIGURE, RESTART), ("{configure}", RESTART_CMD)),
    "not_declared": Say(
        Status.FAIL, "containerd declares no nvidia runtime",
        "The configuration containerd loads ({config} and its imports) has no "
        "`plugins.\"{cri}\".containerd.runtimes.nvidia`: pods and `ctr --runtime` get no GPU "
        "through the NVIDIA Container Toolkit.",
        f"`{{configure}}` then `{RESTART_CMD}`.", (CONFIGURE, RESTART),
        ("{configure}", RESTART_CMD)),
    "binary_missing": Say(
        Status.FAIL, "the nvidia runtime's binary {binary} does not exist",
        "containerd's nvidia runtime runs {binary} (BinaryName), which is not on this host: "
        "every container started with it fails.",
        "Install nvidia-container-toolkit-base (it ships nvidia-container-runtime).",
        ("nvidia.install_toolkit",)),
    "systemd_cgroup_mismatch": Say(
        Status.FAIL, "SystemdCgroup is {runc} for runc but {nvidia} for nvidia",
        "Containers of one pod can land in different cgroup trees; on systemd hosts pods with "
        "the nvidia runtime crash-loop (`expected cgroupsPath to be of format "
        "\"slice:prefix:name\"`).",
        "Set `SystemdCgroup = true` (as runc has) under the nvidia runtime's options.",
        (CONFIGURE, RESTART)),
    "kubelet_cgroup_mismatch": Say(
        Status.FAIL, "the kubelet's cgroupDriver is {driver} but the nvidia runtime has "
        "SystemdCgroup = {nvidia}",
        "The kubelet and the runtime must use the same cgroup driver, or pods fail to start or "
        "are killed.", fixes=(CONFIGURE, RESTART)),
    "not_default": Say(
        Status.WARN, "the default runtime is {default}, not nvidia",
        "The NVIDIA device plugin (and the GPU Operator's validator) run their pods with the "
        "default runtime unless a RuntimeClass `nvidia` exists or CDI (cdi-cri) is used: with "
        "runc as the default they see no GPU.",
        f"`{{configure}} --set-as-default` then `{RESTART_CMD}`, or create a RuntimeClass "
        "named nvidia.", (CONFIGURE, RESTART), ("{configure} --set-as-default", RESTART_CMD)),
    "restart_needed": Say(
        Status.WARN, "containerd started before {files} changed",
        "containerd reads its configuration only when it starts: the running one may not have "
        "the nvidia runtime yet.", f"`{RESTART_CMD}`", (RESTART,), (RESTART_CMD,)),
    "ok": Say(Status.PASS, "containerd declares the nvidia runtime ({binary})",
              "containerd's merged configuration declares the nvidia runtime and its binary "
              "exists."),
})


def applies_to(facts: Facts) -> str | None:
    from gpudoctor.facts.applies import nvidia_skip_reason

    reason = nvidia_skip_reason(facts)
    if reason:
        return reason
    c = facts.containerd
    if not c.installed:
        return "containerd is not installed"
    if not facts.kubelet.present and any(e.name == "docker" for e in facts.engines):
        return ("containerd here runs Docker's containers; Docker's own runtime settings "
                "decide (docker.nvidia_runtime)")
    return None


def evidence(c: ContainerdState) -> list[str]:
    lines = [f"containerd {c.version or '?'} ({c.version_evidence})",
             f"configuration: {c.config_path} ({c.config_source}), config version "
             f"{c.config_version}, CRI plugin `{c.cri_plugin}`"]
    if c.main is not None and c.main.error == "does not exist":
        lines.append(f"{c.config_path}: does not exist (containerd uses its defaults)")
    for f in c.imports:
        lines.append(f"imports {f.path}" + (f": {f.error}" if f.error else ""))
    lines += [f"imports pattern {p}: matches no file" for p in c.unmatched]
    runtimes = ", ".join(f"{n} ({c.runtime_binary(n) or 'runc'})" for n in sorted(c.runtimes))
    lines.append(f"runtimes: {runtimes or 'only the built-in runc'}; default "
                 f"{c.default_runtime}")
    if c.process is not None:
        lines.append(f"containerd: pid {c.process.pid}: {' '.join(c.process.cmdline)}")
    return lines


class ContainerdNvidiaRuntime(Check):
    id = ID
    title = "containerd knows the nvidia runtime"
    area = Area.CONTAINER
    order = 130
    sentences = SENTENCES

    def applies(self, facts: Facts) -> str | None:
        return applies_to(facts)

    def run(self, facts: Facts) -> Result:
        from gpudoctor.host.base import DEFAULT_PATH

        c = facts.containerd
        found = self.findings(evidence(c))
        values: dict[str, Any] = {"config": c.config_path, "cri": c.cri_plugin,
                  "configure": "sudo nvidia-ctk runtime configure --runtime=containerd "
                               f"--config={c.config_path}"}
        for f in c.broken_files:
            found.say("bad_toml", path=f.path, error=f.error)
        if found.items:
            return found.verdict("ok")
        kubelet = facts.kubelet
        on_node = kubelet.present and kubelet.runtime == "containerd"
        if on_node and c.cri_disabled:
            found.say("cri_disabled", **values)
        self._shadow(c, found, values)
        if "nvidia" not in c.runtimes and c.ignored_dropins:
            found.say("dropin_not_imported", **values, dropin=c.ignored_dropins[0])
            return found.verdict("ok")
        if "nvidia" not in c.runtimes:
            found.say("not_declared", **values)
            return found.verdict("ok")
        binary = c.runtime_binary("nvidia") or "nvidia-container-runtime"
        if not facts.host.find_program(binary, DEFAULT_PATH):
            found.say("binary_missing", binary=binary)
        self._cgroups(facts, c, found)
        if on_node and c.default_runtime != "nvidia":
            found.say("not_default", **values, default=c.default_runtime)
        self._stale(facts, c, found)
        return found.verdict("ok", binary=binary)

    @staticmethod
    def _shadow(c: ContainerdState, found: Findings, values: dict[str, Any]) -> None:
        """An imported file whose CRI section replaces the main file's (containerd 1.x)."""
        lost, settings = c.dropin_shadow(), c.dropin_lost_settings()
        if not lost and not settings:
            return
        key = ("dropin_drops_settings" if not lost else
               "dropin_drops_runtimes_and_settings" if settings else "dropin_drops_runtimes")
        found.say(key, **values, source=c.plugin_source.get(c.cri_plugin),
                  version=c.version or "1.x", config_version=c.config_version,
                  lost=", ".join(lost), count=len(settings),
                  settings=", ".join(settings[:6]) + (" ..." if len(settings) > 6 else ""))

    @staticmethod
    def _cgroups(facts: Facts, c: ContainerdState, found: Findings) -> None:
        runc, nvidia = c.systemd_cgroup("runc"), c.systemd_cgroup("nvidia")
        found.evidence.append(f"SystemdCgroup: runc {runc}, nvidia {nvidia}")
        if runc is not None and bool(nvidia) != bool(runc):
            found.say("systemd_cgroup_mismatch", runc=runc, nvidia=nvidia)
        driver = facts.kubelet.cgroup_driver if facts.kubelet.present else None
        if driver and nvidia is not None and (driver == "systemd") != nvidia:
            found.say("kubelet_cgroup_mismatch", driver=driver, nvidia=str(nvidia).lower())

    @staticmethod
    def _stale(facts: Facts, c: ContainerdState, found: Findings) -> None:
        proc = c.process
        if proc is None or proc.create_time is None:
            return
        files = [f.path for f in [c.main, *c.imports] if f is not None and f.ok]
        newer = []
        for path in files:
            st = facts.host.stat(path)
            if st is not None and st.mtime > proc.create_time:
                newer.append(path)
        if newer:
            found.say("restart_needed", files=", ".join(newer))
