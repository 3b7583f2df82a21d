"""containerd.nvidia_runtime: the configuration containerd really loads (config.toml plus its
imports, merged the way that containerd version merges them) declares an `nvidia` runtime
whose binary exists, as the default where a Kubernetes device plugin needs it, with
`SystemdCgroup` consistent between runc, the nvidia runtime and the kubelet."""

from __future__ import annotations

from gpudoctor.facts import Facts
from gpudoctor.facts.containerd import ContainerdState
from gpudoctor.facts.toolkit import nvidia_skip_reason
from gpudoctor.host.base import DEFAULT_PATH
from gpudoctor.plugin import Area, Check, Findings, Result, Status

CONFIGURE = "containerd.configure_nvidia_runtime"
RESTART = "containerd.restart"


def applies_to(facts: Facts) -> str | None:
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
    id = "containerd.nvidia_runtime"
    title = "containerd knows the nvidia runtime"
    area = Area.CONTAINER
    order = 130

    def applies(self, facts: Facts) -> str | None:
        return applies_to(facts)

    def run(self, facts: Facts) -> Result:
        c = facts.containerd
        found = Findings(evidence=evidence(c))
        cmd = ("sudo nvidia-ctk runtime configure --runtime=containerd "
               f"--config={c.config_path}")
        for f in c.broken_files:
            found.add(Status.FAIL, f"{f.path} is not valid TOML",
                      f"{f.path}: {f.error}. containerd refuses to start with it, and "
                      "gpudoctor never rewrites a file it cannot parse.",
                      remedy=f"Correct {f.path}, then `sudo systemctl restart containerd`.",
                      id="containerd.nvidia_runtime.bad_toml")
        if found.items:
            return found.result("", "")
        kubelet = facts.kubelet
        on_node = kubelet.present and kubelet.runtime == "containerd"
        if on_node and c.cri_disabled:
            found.add(Status.FAIL, f"the CRI plugin is disabled in {c.config_path}",
                      "`disabled_plugins` lists the CRI plugin (Docker's containerd.io package "
                      "ships it that way), so the kubelet cannot start any pod.",
                      remedy=f"Remove \"cri\" from disabled_plugins in {c.config_path}, then "
                      "`sudo systemctl restart containerd`.", id="containerd.nvidia_runtime."
                      "cri_disabled", commands=("sudo systemctl restart containerd",))
        lost, settings = c.dropin_shadow(), c.dropin_lost_settings()
        if lost or settings:
            source = c.plugin_source.get(c.cri_plugin)
            what = (f"{', '.join(lost)} {'is' if len(lost) == 1 else 'are'} lost" if lost else
                    f"{len(settings)} setting(s) of {c.config_path} are lost")
            also = (f" Its other settings are gone too: {', '.join(settings[:6])}"
                    + (" ..." if len(settings) > 6 else "") + "." if settings else "")
            found.add(
                Status.FAIL, f"{source} replaces containerd's whole CRI section: {what}",
                f"containerd {c.version or '1.x'} (config version {c.config_version}) takes "
                f"each plugin section of an imported file whole: `{c.cri_plugin}` now comes "
                f"from {source} alone"
                + (f", so the runtimes {c.config_path} declares ({', '.join(lost)}) and their "
                   "SystemdCgroup are gone and pods that use them fail" if lost else "")
                + f". `containerd config dump` shows it.{also}",
                remedy=f"Put the complete CRI section into {source} (gpudoctor's fix writes it "
                "that way), or declare the nvidia runtime in the main file.",
                fixes=(CONFIGURE, RESTART), id="containerd.nvidia_runtime.dropin_drops_runtimes")
        if "nvidia" not in c.runtimes and c.ignored_dropins:
            wrong = c.ignored_dropins[0]
            found.add(
                Status.FAIL, f"the nvidia runtime is declared in {wrong}, which containerd "
                "does not import",
                f"{wrong} declares the nvidia runtime, but {c.config_path}'s `imports` do not "
                "name it, so containerd never reads it (toolkit 1.18.0 wrote its drop-in to "
                "/etc/containerd/config.d instead of conf.d).",
                remedy=f"`{cmd}` then `sudo systemctl restart containerd` (gpudoctor's fix "
                "writes conf.d/99-nvidia.toml and imports it).", fixes=(CONFIGURE, RESTART),
                id="containerd.nvidia_runtime.dropin_not_imported",
                commands=(cmd, "sudo systemctl restart containerd"))
            return found.result("", "")
        if "nvidia" not in c.runtimes:
            found.add(
                Status.FAIL, "containerd declares no nvidia runtime",
                f"The configuration containerd loads ({c.config_path} and its imports) has no "
                f"`plugins.\"{c.cri_plugin}\".containerd.runtimes.nvidia`: pods and `ctr "
                "--runtime` get no GPU through the NVIDIA Container Toolkit.",
                remedy=f"`{cmd}` then `sudo systemctl restart containerd`.",
                fixes=(CONFIGURE, RESTART), id="containerd.nvidia_runtime.not_declared",
                commands=(cmd, "sudo systemctl restart containerd"))
            return found.result("", "")
        binary = c.runtime_binary("nvidia") or "nvidia-container-runtime"
        if not facts.host.find_program(binary, DEFAULT_PATH):
            found.add(Status.FAIL, f"the nvidia runtime's binary {binary} does not exist",
                      f"containerd's nvidia runtime runs {binary} (BinaryName), which is not on "
                      "this host: every container started with it fails.",
                      remedy="Install nvidia-container-toolkit-base (it ships "
                      "nvidia-container-runtime).", fixes=("nvidia.install_toolkit",),
                      id="containerd.nvidia_runtime.binary_missing")
        self._cgroups(facts, c, found)
        if on_node and c.default_runtime != "nvidia":
            found.add(Status.WARN, f"the default runtime is {c.default_runtime}, not nvidia",
                      "The NVIDIA device plugin (and the GPU Operator's validator) run their "
                      "pods with the default runtime unless a RuntimeClass `nvidia` exists or "
                      "CDI (cdi-cri) is used: with runc as the default they see no GPU.",
                      remedy=f"`{cmd} --set-as-default` then `sudo systemctl restart "
                      "containerd`, or create a RuntimeClass named nvidia.",
                      fixes=(CONFIGURE, RESTART), id="containerd.nvidia_runtime.not_default",
                      commands=(f"{cmd} --set-as-default", "sudo systemctl restart containerd"))
        self._stale(facts, c, found)
        return found.result(f"containerd declares the nvidia runtime ({binary})",
                            "containerd's merged configuration declares the nvidia runtime "
                            "and its binary exists.")

    @staticmethod
    def _cgroups(facts: Facts, c: ContainerdState, found: Findings) -> None:
        runc, nvidia = c.systemd_cgroup("runc"), c.systemd_cgroup("nvidia")
        found.evidence.append(f"SystemdCgroup: runc {runc}, nvidia {nvidia}")
        if runc is not None and bool(nvidia) != bool(runc):
            found.add(Status.FAIL, f"SystemdCgroup is {runc} for runc but {nvidia} for nvidia",
                      "Containers of one pod can land in different cgroup trees; on systemd "
                      "hosts pods with the nvidia runtime crash-loop (`expected cgroupsPath to "
                      "be of format \"slice:prefix:name\"`).",
                      remedy="Set `SystemdCgroup = true` (as runc has) under the nvidia "
                      "runtime's options.", fixes=(CONFIGURE, RESTART),
                      id="containerd.nvidia_runtime.systemd_cgroup_mismatch")
        driver = facts.kubelet.cgroup_driver if facts.kubelet.present else None
        if driver and nvidia is not None and (driver == "systemd") != nvidia:
            found.add(Status.FAIL, f"the kubelet's cgroupDriver is {driver} but the nvidia "
                      f"runtime has SystemdCgroup = {str(nvidia).lower()}",
                      "The kubelet and the runtime must use the same cgroup driver, or pods "
                      "fail to start or are killed.", id="containerd.nvidia_runtime."
                      "kubelet_cgroup_mismatch", fixes=(CONFIGURE, RESTART))

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
            found.add(Status.WARN, f"containerd started before {', '.join(newer)} changed",
                      "containerd reads its configuration only when it starts: the running "
                      "one may not have the nvidia runtime yet.",
                      remedy="`sudo systemctl restart containerd`", fixes=(RESTART,),
                      id="containerd.nvidia_runtime.restart_needed",
                      commands=("sudo systemctl restart containerd",))
