"""nvidia.toolkit_config: settings in the toolkit's config.toml that cannot work on this host.

Three that come up again and again: an `ldconfig` path from another distribution (a config
carried from Ubuntu, `@/sbin/ldconfig.real`, onto a host without that file: every `--gpus`
container fails in the hook, nvidia-docker#587); `no-cgroups = true` under a rootful daemon
(meant for rootless Docker: rootful containers then get the device files but no permission to
open them); `mode = "cdi"` while containers are started with `--gpus` (the hook refuses,
toolkit#1246). Package versions that do not match stay with nvidia.toolkit.
"""

from __future__ import annotations

from gpudoctor import TYPE_CHECKING
from gpudoctor.plugin import Area, Check, Findings, Result, Say, Sentences, Status

if TYPE_CHECKING:
    from gpudoctor.facts import Facts

ID = "nvidia.toolkit_config"
LDCONFIG_WHY = (
    "nvidia-container-cli runs `{ldconfig}` to update the container's library cache when it "
    "injects the driver. `@/sbin/ldconfig.real` exists only on Debian and Ubuntu; a config.toml "
    "carried from there onto another distribution makes every GPU container fail with "
    "`ldcache error: open failed: {ldconfig}: no such file or directory` (nvidia-docker#587)")
LDCONFIG = Say(
    Status.FAIL, "{path} names ldconfig `{value}`, which this host does not have",
    LDCONFIG_WHY + ".",
    "Point it at this host's ldconfig: `{command}` (where /sbin/ldconfig does not exist either, "
    "use the path `command -v ldconfig` prints).", commands=("{command}",))

SENTENCES = Sentences(ID, {
    "ldconfig_missing": LDCONFIG,
    "ldconfig_missing_no_fallback": Say(
        LDCONFIG.status, LDCONFIG.summary + " (toolkit {version} has no fallback)",
        LDCONFIG_WHY + "; toolkit {version} does not fall back to another ldconfig (1.15 and "
        "later do, when the path without `.real` exists).", LDCONFIG.remedy,
        commands=LDCONFIG.commands, finding="ldconfig_missing"),
    "no_cgroups_rootful": Say(
        Status.FAIL, "{path} sets no-cgroups = true, but Docker runs as root",
        "`no-cgroups = true` is for rootless Docker, which cannot change device cgroups. Under "
        "a rootful daemon it tells nvidia-container-cli not to allow the GPUs in the "
        "container's device cgroup, so `--gpus` containers see /dev/nvidia* but may not open "
        "them: `nvidia-smi` says `Failed to initialize NVML: Unknown Error`.",
        "Set it back for a rootful daemon: `{command}` (if a rootless Docker on this host needs "
        "it, give rootless users their own config through XDG_CONFIG_HOME).",
        commands=("{command}",)),
    "cdi_mode_gpus": Say(
        Status.WARN, "{path} sets mode = \"{mode}\": `docker run --gpus` is refused (used by "
        "{users})",
        "In {mode} mode the toolkit's hook refuses to run when Docker calls it for `--gpus`: "
        "`Using requested mode '{mode}' invoking the NVIDIA Container Runtime Hook directly "
        "(e.g. specifying the docker --gpus flag) is not supported` (toolkit#1246). Existing "
        "containers created with `--gpus` will not start again: {all_users}.",
        "Give GPUs through CDI (`--device=nvidia.com/gpu=all`, the run arguments gpudoctor "
        "prints) or `--runtime=nvidia`; or set the mode back: `{command}`.",
        commands=("{command}",)),
    "ok": Say(Status.PASS, "{path} fits this host (ldconfig exists, cgroups and mode match how "
              "Docker runs)",
              "The ldconfig it names exists here, `no-cgroups` matches a rootful or rootless "
              "daemon, and its mode lets the ways of giving GPUs in use work."),
    "no_config": Say(Status.PASS, "{path} does not exist: the toolkit's defaults apply",
                     "The defaults fit the distribution the package was built for."),
    "unreadable": Say(Status.SKIP, "{path} cannot be read: {error}"),
})


def ctk_set(path: str, key: str, value: str) -> str:
    """The nvidia-ctk command that sets one config.toml key in place."""
    return f"sudo nvidia-ctk config --config-file={path} --in-place --set {key}={value}"


class NvidiaToolkitConfig(Check):
    id = ID
    title = "The NVIDIA toolkit's config.toml fits this host"
    area = Area.CONTAINER
    order = 74
    sentences = SENTENCES

    def applies(self, facts: Facts) -> str | None:
        from gpudoctor.facts.applies import installed_toolkit_skip_reason

        return installed_toolkit_skip_reason(facts)

    def run(self, facts: Facts) -> Result:
        cfg = facts.toolkit.config
        if not cfg.exists:
            return self.findings().verdict("no_config", path=cfg.path)
        if cfg.error:
            return self.findings().verdict("unreadable", path=cfg.path, error=cfg.error)
        no_cgroups = ("(default false)" if cfg.no_cgroups is None
                      else str(cfg.no_cgroups).lower())
        found = self.findings([
            f"{cfg.path}: ldconfig = {cfg.ldconfig or '(default)'}, no-cgroups = {no_cgroups}, "
            f"mode = {cfg.mode or '(default auto)'}"])
        self._ldconfig(facts, found)
        self._no_cgroups(facts, found)
        self._cdi_mode(facts, found)
        return found.verdict("ok", path=cfg.path)

    def _ldconfig(self, facts: Facts, found: Findings) -> None:
        from gpudoctor.facts.nvidia_layer import version_key

        cfg = facts.toolkit.config
        value = cfg.ldconfig
        if not value or not value.startswith("@"):
            return  # without "@" the path is inside the container (not checked here)
        path = value[1:]
        if facts.host.exists(path):
            found.evidence.append(f"ldconfig: {path} exists on the host")
            return
        version = version_key(facts.toolkit.version)
        base = path.removesuffix(".real")
        if path.endswith(".real") and version is not None and version >= (1, 15, 0) \
                and facts.host.exists(base):
            # NormalizeLDConfigPath (toolkit 1.15+): a missing `.real` falls back to the base
            found.evidence.append(f"ldconfig: {path} does not exist; toolkit "
                                  f"{facts.toolkit.version} falls back to {base}, which does")
            return
        found.evidence.append(f"ldconfig: {path} does not exist on the host")
        old = version is not None and version < (1, 15, 0)
        found.say("ldconfig_missing_no_fallback" if old else "ldconfig_missing",
                  path=cfg.path, value=value, ldconfig=path, version=facts.toolkit.version,
                  command=ctk_set(cfg.path, "nvidia-container-cli.ldconfig", "@/sbin/ldconfig"))

    def _no_cgroups(self, facts: Facts, found: Findings) -> None:
        cfg = facts.toolkit.config
        if cfg.no_cgroups is not True or facts.docker.mode not in ("system", "snap"):
            return
        found.say("no_cgroups_rootful", path=cfg.path,
                  command=ctk_set(cfg.path, "nvidia-container-cli.no-cgroups", "false"))

    def _cdi_mode(self, facts: Facts, found: Findings) -> None:
        from gpudoctor.facts.nvidia_args import nvidia_ways
        from gpudoctor.facts.nvidia_layer import containers

        cfg = facts.toolkit.config
        if cfg.mode not in ("cdi", "csv"):
            return
        ways = nvidia_ways(facts)
        if ways.gpus_via_cdi:
            return  # Docker 29.2+ serves --gpus through CDI, not the hook
        gpus_users = [c.name for c in containers(facts) or [] if c.injection == "hook"]
        if not gpus_users:
            found.evidence.append(f"mode = \"{cfg.mode}\": `--gpus` would be refused; no "
                                  "existing container uses it")
            return
        found.say("cdi_mode_gpus", path=cfg.path, mode=cfg.mode,
                  users=", ".join(gpus_users[:4]), all_users=", ".join(gpus_users),
                  command=ctk_set(cfg.path, "nvidia-container-runtime.mode", "auto"))
