"""crio.nvidia_runtime: CRI-O's configuration (crio.conf and crio.conf.d drop-ins, merged key by
key) declares an `nvidia` runtime whose runtime_path exists."""

from __future__ import annotations

from gpudoctor import TYPE_CHECKING
from gpudoctor.plugin import Area, Check, Result, Say, Sentences, Status

if TYPE_CHECKING:
    from gpudoctor.facts import Facts

ID = "crio.nvidia_runtime"
CONFIGURE = "crio.configure_nvidia_runtime"
RESTART = "crio.restart"
RESTART_CMD = "sudo systemctl restart crio"

SENTENCES = Sentences(ID, {
    "bad_toml": Say(Status.FAIL, "{path} is not valid TOML",
                    "{path}: {error}. CRI-O refuses to start with it.",
                    f"Correct {{path}}, then `{RESTART_CMD}`."),
    "leftover_file": Say(
        Status.WARN, "CRI-O also reads the leftover {path}",
        "CRI-O reads every file under {dropin_dir}, whatever its name, in lexical order: {path} "
        "is applied after the file it was copied from and can undo it.",
        "Move it out of the folder: `sudo mv {path} /root/`",
        commands=("sudo mv {path} /root/",)),
    "dropin_ignored": Say(
        Status.FAIL, "the nvidia runtime is declared in {dropin}, which CRI-O never reads",
        "{dropin} declares the nvidia runtime, but CRI-O reads only {config} and {dropin_dir}. "
        "NVIDIA Container Toolkit 1.18 to 1.19.0 wrote its drop-in to /etc/crio/conf.d by "
        "mistake (fixed in later releases).",
        f"`sudo mv {{dropin}} {{dropin_dir}}/` then `{RESTART_CMD}`.", (CONFIGURE, RESTART),
        ("sudo mv {dropin} {dropin_dir}/", RESTART_CMD)),
    "not_declared": Say(
        Status.FAIL, "CRI-O declares no nvidia runtime",
        "Neither {config} nor a drop-in in {dropin_dir} declares "
        "`[crio.runtime.runtimes.nvidia]`: pods get no GPU through the NVIDIA Container "
        "Toolkit.", f"`{{configure}}` then `{RESTART_CMD}`.", (CONFIGURE, RESTART),
        ("{configure}", RESTART_CMD)),
    "binary_missing": Say(
        Status.FAIL, "the nvidia runtime's runtime_path {binary} does not exist",
        "CRI-O runs {binary} for the nvidia runtime; it is not on this host.",
        "Install nvidia-container-toolkit-base.", ("nvidia.install_toolkit",)),
    "not_default": Say(
        Status.WARN, "CRI-O's default runtime is {default}, not nvidia",
        "The NVIDIA device plugin's pods run with the default runtime unless a RuntimeClass "
        "nvidia exists or CDI is used.",
        f"`{{configure}} --set-as-default` then `{RESTART_CMD}`.",
        commands=("{configure} --set-as-default", RESTART_CMD)),
    "ok": Say(Status.PASS, "CRI-O declares the nvidia runtime ({binary})",
              "CRI-O's merged configuration declares the nvidia runtime and its runtime_path "
              "exists."),
})


class CrioNvidiaRuntime(Check):
    id = ID
    title = "CRI-O knows the nvidia runtime"
    area = Area.CONTAINER
    order = 140
    sentences = SENTENCES

    def applies(self, facts: Facts) -> str | None:
        from gpudoctor.facts.applies import nvidia_skip_reason

        return nvidia_skip_reason(facts) or (None if facts.crio.installed else
                                             "CRI-O is not installed")

    def run(self, facts: Facts) -> Result:
        from gpudoctor.facts.crio import DROP_IN
        from gpudoctor.host.base import DEFAULT_PATH

        c = facts.crio
        found = self.findings([f"CRI-O {c.version or '?'} ({c.version_evidence})"])
        for f in c.files:
            found.evidence.append(f"{f.path}: " + (f.error or "read"))
        runtimes = ", ".join(f"{n} ({c.runtime_path(n) or '?'}, from {c.runtime_source.get(n)})"
                             for n in sorted(c.runtimes))
        found.evidence.append(f"runtimes: {runtimes or 'none declared'}; default "
                              f"{c.default_runtime or '(built-in)'}; cgroup_manager "
                              f"{c.cgroup_manager}")
        for f in c.broken_files:
            found.say("bad_toml", path=f.path, error=f.error)
        if found.items:
            return found.verdict("ok")
        values = {"config": c.config_path, "dropin_dir": c.drop_in_dir,
                  "configure": f"sudo nvidia-ctk runtime configure --runtime=crio "
                               f"--config={DROP_IN}"}
        for path in c.leftovers:
            found.say("leftover_file", **values, path=path)
        if "nvidia" not in c.runtimes and c.ignored_dropins:
            found.say("dropin_ignored", **values, dropin=c.ignored_dropins[0])
            return found.verdict("ok")
        if "nvidia" not in c.runtimes:
            found.say("not_declared", **values)
            return found.verdict("ok")
        path = c.runtime_path("nvidia") or "nvidia-container-runtime"
        if not facts.host.find_program(path, DEFAULT_PATH):
            found.say("binary_missing", binary=path)
        kubelet = facts.kubelet
        if kubelet.present and kubelet.runtime == "cri-o" and c.default_runtime != "nvidia":
            found.say("not_default", **values, default=c.default_runtime or "crun/runc")
        return found.verdict("ok", binary=path)
