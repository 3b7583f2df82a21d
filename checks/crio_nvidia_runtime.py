"""crio.nvidia_runtime: CRI-O's configuration (crio.conf and crio.conf.d drop-ins, merged key by
key) declares an `nvidia` runtime whose runtime_path exists."""

from __future__ import annotations

from gpudoctor.facts import Facts
from gpudoctor.facts.crio import DROP_IN
from gpudoctor.facts.toolkit import nvidia_skip_reason
from gpudoctor.host.base import DEFAULT_PATH
from gpudoctor.plugin import Area, Check, Findings, Result, Status

CONFIGURE = "crio.configure_nvidia_runtime"
RESTART = "crio.restart"


class CrioNvidiaRuntime(Check):
    id = "crio.nvidia_runtime"
    title = "CRI-O knows the nvidia runtime"
    area = Area.CONTAINER
    order = 140

    def applies(self, facts: Facts) -> str | None:
        return nvidia_skip_reason(facts) or (None if facts.crio.installed else
                                             "CRI-O is not installed")

    def run(self, facts: Facts) -> Result:
        c = facts.crio
        found = Findings(evidence=[f"CRI-O {c.version or '?'} ({c.version_evidence})"])
        for f in c.files:
            found.evidence.append(f"{f.path}: " + (f.error or "read"))
        runtimes = ", ".join(f"{n} ({c.runtime_path(n) or '?'}, from {c.runtime_source.get(n)})"
                             for n in sorted(c.runtimes))
        found.evidence.append(f"runtimes: {runtimes or 'none declared'}; default "
                              f"{c.default_runtime or '(built-in)'}; cgroup_manager "
                              f"{c.cgroup_manager}")
        for f in c.broken_files:
            found.add(Status.FAIL, f"{f.path} is not valid TOML",
                      f"{f.path}: {f.error}. CRI-O refuses to start with it.",
                      remedy=f"Correct {f.path}, then `sudo systemctl restart crio`.",
                      id="crio.nvidia_runtime.bad_toml")
        if found.items:
            return found.result("", "")
        for path in c.leftovers:
            found.add(Status.WARN, f"CRI-O also reads the leftover {path}",
                      f"CRI-O reads every file under {c.drop_in_dir}, whatever its name, in "
                      f"lexical order: {path} is applied after the file it was copied from and "
                      "can undo it.", remedy=f"Move it out of the folder: `sudo mv {path} "
                      "/root/`", id="crio.nvidia_runtime.leftover_file",
                      commands=(f"sudo mv {path} /root/",))
        cmd = f"sudo nvidia-ctk runtime configure --runtime=crio --config={DROP_IN}"
        if "nvidia" not in c.runtimes and c.ignored_dropins:
            wrong = c.ignored_dropins[0]
            move = f"sudo mv {wrong} {c.drop_in_dir}/"
            found.add(Status.FAIL, f"the nvidia runtime is declared in {wrong}, which CRI-O "
                      "never reads",
                      f"{wrong} declares the nvidia runtime, but CRI-O reads only {c.config_path} "
                      f"and {c.drop_in_dir}. NVIDIA Container Toolkit 1.18 to 1.19.0 wrote its "
                      "drop-in to /etc/crio/conf.d by mistake (fixed in later releases).",
                      remedy=f"`{move}` then `sudo systemctl restart crio`.",
                      fixes=(CONFIGURE, RESTART), id="crio.nvidia_runtime.dropin_ignored",
                      commands=(move, "sudo systemctl restart crio"))
            return found.result("", "")
        if "nvidia" not in c.runtimes:
            found.add(Status.FAIL, "CRI-O declares no nvidia runtime",
                      f"Neither {c.config_path} nor a drop-in in {c.drop_in_dir} declares "
                      "`[crio.runtime.runtimes.nvidia]`: pods get no GPU through the NVIDIA "
                      "Container Toolkit.", remedy=f"`{cmd}` then `sudo systemctl restart crio`.",
                      fixes=(CONFIGURE, RESTART), id="crio.nvidia_runtime.not_declared",
                      commands=(cmd, "sudo systemctl restart crio"))
            return found.result("", "")
        path = c.runtime_path("nvidia") or "nvidia-container-runtime"
        if not facts.host.find_program(path, DEFAULT_PATH):
            found.add(Status.FAIL, f"the nvidia runtime's runtime_path {path} does not exist",
                      f"CRI-O runs {path} for the nvidia runtime; it is not on this host.",
                      remedy="Install nvidia-container-toolkit-base.",
                      fixes=("nvidia.install_toolkit",), id="crio.nvidia_runtime.binary_missing")
        kubelet = facts.kubelet
        if kubelet.present and kubelet.runtime == "cri-o" and c.default_runtime != "nvidia":
            found.add(Status.WARN, f"CRI-O's default runtime is {c.default_runtime or 'crun/runc'}"
                      ", not nvidia", "The NVIDIA device plugin's pods run with the default "
                      "runtime unless a RuntimeClass nvidia exists or CDI is used.",
                      remedy=f"`{cmd} --set-as-default` then `sudo systemctl restart crio`.",
                      id="crio.nvidia_runtime.not_default",
                      commands=(f"{cmd} --set-as-default", "sudo systemctl restart crio"))
        return found.result(f"CRI-O declares the nvidia runtime ({path})",
                            "CRI-O's merged configuration declares the nvidia runtime and its "
                            "runtime_path exists.")
