"""nvidia.toolkit: nvidia-container-toolkit is installed whole, and the running dockerd saw its
hook when it started (Docker registers its `--gpus` driver only then)."""

from __future__ import annotations

from gpudoctor import TYPE_CHECKING
from gpudoctor.plugin import Area, Check, Findings, Result, Say, Sentences, Status

if TYPE_CHECKING:
    from typing import Any

    from gpudoctor.facts import Facts
    from gpudoctor.facts.toolkit import ToolkitInfo

ID = "nvidia.toolkit"
INSTALL_FIX = "nvidia.install_toolkit"
#: NVIDIA's apt repository setup and install, one pasteable line (report 1.1 `commands`).
INSTALL_ONLINE = (
    "curl -fsSL https://nvidia.github.io/libnvidia-container/gpgkey | sudo gpg --dearmor -o "
    "/usr/share/keyrings/nvidia-container-toolkit-keyring.gpg && curl -s -L "
    "https://nvidia.github.io/libnvidia-container/stable/deb/nvidia-container-toolkit.list | "
    "sed 's#deb https://#deb [signed-by=/usr/share/keyrings/nvidia-container-toolkit-keyring"
    ".gpg] https://#g' | sudo tee /etc/apt/sources.list.d/nvidia-container-toolkit.list && "
    "sudo apt-get update && sudo apt-get install -y nvidia-container-toolkit")
#: From the release bundle, the four packages in dependency order.
INSTALL_OFFLINE = ("sudo dpkg -i libnvidia-container1_*.deb libnvidia-container-tools_*.deb "
                   "nvidia-container-toolkit-base_*.deb nvidia-container-toolkit_*.deb")
INSTALL_COMMANDS = (INSTALL_ONLINE, INSTALL_OFFLINE)
INSTALL_REMEDY = (
    f"Install it from NVIDIA's repository: `{INSTALL_ONLINE}` (dnf/zypper: see NVIDIA's "
    f"install guide). Offline, from the release bundle, in dependency order: "
    f"`{INSTALL_OFFLINE}`. Then restart Docker so it finds the hook.")
#: `docker run --gpus all` without NVIDIA's device driver registered in dockerd.
NO_DRIVER = "`could not select device driver \"\" with capabilities: [[gpu]]`"
ONE_VERSION = ("V=<version>-1; sudo apt-get install nvidia-container-toolkit=$V "
               "nvidia-container-toolkit-base=$V libnvidia-container-tools=$V "
               "libnvidia-container1=$V")
MIXED = "Installed: {listing}. The toolkit and libnvidia-container are built and tested together; "
MISSING = ("Only part of the toolkit is installed ({installed}). `--gpus` needs {hook} (package "
           "nvidia-container-toolkit), which calls nvidia-container-cli "
           "(libnvidia-container-tools, libnvidia-container1).")
WHAT_IT_DOES = ("The toolkit's {hook} is what Docker calls to put the GPUs into a `--gpus` "
                "container; dockerd looks for it on its own PATH once, at start.")
REMOVE_HOST = "sudo apt-get remove nvidia-container-toolkit nvidia-container-toolkit-base"

SENTENCES = Sentences(ID, {
    "not_installed": Say(
        Status.FAIL, "nvidia-container-toolkit is not installed",
        "Neither the package database nor the PATH (the person's, systemd's and dockerd's: "
        "{search_path}) has the toolkit. Without its {hook} Docker registers no NVIDIA device "
        "driver, so `docker run --gpus all` and compose's `driver: nvidia` fail with `could "
        "not select device driver \"nvidia\" with capabilities: [[gpu]]`, and there is no "
        "`nvidia` runtime.", INSTALL_REMEDY, (INSTALL_FIX,), INSTALL_COMMANDS),
    "half_installed": Say(
        Status.FAIL, "the toolkit install stopped half way: {names}",
        "dpkg left {names}: unpacked but not configured, so its files may be missing or "
        "inconsistent. This happens when `dpkg -i` was given the packages out of order or one "
        "of them was missing.",
        "Finish or redo it: `sudo apt-get -f install` (online), or install all four packages "
        f"together: `{INSTALL_OFFLINE}`.", (INSTALL_FIX,),
        ("sudo apt-get -f install", INSTALL_OFFLINE)),
    "versions_mixed": Say(
        Status.FAIL, "the toolkit's packages have different versions",
        MIXED + "since 1.18 each package requires the exact same version of the others, so "
        "this set is broken and the next apt operation will try to change it.",
        f"Install one version of all four: `{ONE_VERSION}`.", (INSTALL_FIX,), (ONE_VERSION,)),
    "versions_mixed_before_1_18": Say(
        Status.WARN, "the toolkit's packages have different versions",
        MIXED + "mixing versions leads to hook and CLI errors that are hard to trace.",
        f"Install one version of all four: `{ONE_VERSION}`.", (INSTALL_FIX,), (ONE_VERSION,),
        finding="versions_mixed"),
    "packages_missing": Say(
        Status.FAIL, "toolkit packages missing: {missing}", MISSING, INSTALL_REMEDY,
        (INSTALL_FIX,), INSTALL_COMMANDS),
    "packages_missing_cdi_works": Say(
        Status.WARN, "toolkit packages missing: {missing}; CDI works, `--gpus` does not",
        MISSING, INSTALL_REMEDY, (INSTALL_FIX,), INSTALL_COMMANDS, finding="packages_missing"),
    "hook_not_on_path": Say(
        Status.FAIL, "{hook} is not on any PATH",
        "The toolkit is installed ({source}) but {hook} was found nowhere on {search_path}. "
        "Docker's `--gpus` needs it.", INSTALL_REMEDY, (INSTALL_FIX,), INSTALL_COMMANDS),
    "hook_not_on_dockerd_path": Say(
        Status.FAIL, "{hook} is not on dockerd's PATH",
        "The hook is at {hook_path}, but dockerd's PATH ({path_env}) does not contain {folder}. "
        "Docker registers its NVIDIA `--gpus` driver only when it finds the hook on its own "
        f"PATH at start, so `docker run --gpus all` fails with {NO_DRIVER}.",
        "Link it into a folder dockerd searches: `sudo ln -s {hook_path} /usr/bin/{hook}`, then "
        "`{restart}` (a reload is not enough).",
        commands=("sudo ln -s {hook_path} /usr/bin/{hook}", "{restart}")),
    "installed_after_dockerd": Say(
        Status.FAIL, "the toolkit was installed after dockerd started: `--gpus` fails until "
        "Docker restarts",
        "dockerd (pid {pid}) started {daemon_started}, but {hook_path} arrived {hook_installed} "
        "({hook_evidence}). Docker looks for the hook only once, when it starts, so the running "
        f"daemon has no NVIDIA device driver: `docker run --gpus all` fails with {NO_DRIVER} "
        "and compose with `could not select device driver \"nvidia\"`. A reload (SIGHUP) does "
        "not register it; a restart does.",
        "`{restart}` (running containers stop unless live-restore is on).",
        ("docker.reload",), ("{restart}",)),
    "snap_and_host": Say(
        Status.WARN, "the Docker snap and a host toolkit package are both installed",
        "The Docker snap ({docker_version}) bundles its own NVIDIA toolkit; from 29.2 it fails "
        "to start GPU containers when the host also has the toolkit packages "
        "(canonical/docker-snap#357).",
        f"Remove the host packages (`{REMOVE_HOST}`), or run with "
        "`--gpus \"all,driver=nvidia.runtime-hook\"`.", commands=(REMOVE_HOST,)),
    "ok": Say(Status.PASS, "nvidia-container-toolkit {version} is installed ({source}) and "
              "dockerd found its hook when it started", WHAT_IT_DOES),
    "installed": Say(Status.PASS, "nvidia-container-toolkit {version} is installed ({source})",
                     WHAT_IT_DOES),
    "desktop": Say(Status.SKIP, "Docker Desktop runs its engine in a VM the toolkit cannot "
                   "reach (see docker.daemon)"),
})


def package_lines(tk: ToolkitInfo) -> list[str]:
    from gpudoctor.facts.toolkit import PACKAGES

    if tk.source in ("dpkg", "rpm"):
        lines = []
        for name in PACKAGES:
            pkg = tk.packages.get(name)
            lines.append(f"{tk.source}: {name} {pkg.version} ({pkg.status})" if pkg else
                         f"{tk.source}: {name} not installed")
        return lines
    return [f"package database: no toolkit package ({'dpkg' if tk.packages else 'none found'})"]


class NvidiaToolkit(Check):
    id = ID
    title = "NVIDIA Container Toolkit, and its hook on the Docker daemon's PATH"
    area = Area.CONTAINER
    order = 70
    sentences = SENTENCES

    def applies(self, facts: Facts) -> str | None:
        from gpudoctor.facts.applies import nvidia_skip_reason

        return nvidia_skip_reason(facts)

    def run(self, facts: Facts) -> Result:
        from gpudoctor.facts.toolkit import HOOK, daemon_hook_for, toolkit_config_for

        tk = facts.toolkit
        d = facts.docker
        found = self.findings(package_lines(tk))
        found.evidence += [f"binary: {name} at {path}" for name, path in tk.binaries.items()]
        found.evidence.append(f"version: {tk.version or 'unknown'}"
                              + (f" (from {tk.version_source})" if tk.version_source else ""))
        if d.mode == "desktop":
            return found.verdict("desktop")
        values: dict[str, Any] = {"hook": HOOK, "source": tk.source, "search_path": tk.search_path,
                  "restart": d.restart_command()}
        if not tk.installed:
            found.say("not_installed", **values)
            return found.verdict("installed")
        self._packages(facts, tk, found, values)
        self._daemon_side(facts, tk, found, values)
        cfg = toolkit_config_for(facts)
        found.evidence.append(
            f"config: {cfg.path}: " + ("does not exist (defaults apply)" if not cfg.exists else
                                        cfg.error or f"mode={cfg.mode or 'auto (default)'}, "
                                        "no-cgroups=" + ("true" if cfg.no_cgroups else
                                                         "false")))
        if d.mode == "snap" and tk.source in ("dpkg", "rpm") and d.at_least(29, 2):
            found.say("snap_and_host", docker_version=d.server_version)
        return found.verdict("ok" if daemon_hook_for(facts).registered else "installed",
                             version=tk.version or "(version unknown)", **values)

    def _packages(self, facts: Facts, tk: ToolkitInfo, found: Findings,
                  values: dict[str, Any]) -> None:
        broken = tk.broken_packages
        if broken:
            found.say("half_installed",
                      names=", ".join(f"{p.name} ({p.status})" for p in broken))
        versions = tk.package_versions
        if versions and not tk.versions_match:
            found.say("versions_mixed" if tk.exact_match_required else
                      "versions_mixed_before_1_18",
                      listing=", ".join(f"{n} {v}" for n, v in versions.items()))
        missing = [n for n in tk.missing_packages
                   if n in ("nvidia-container-toolkit", "libnvidia-container-tools",
                            "libnvidia-container1")]
        if missing and not broken:
            from gpudoctor.facts.nvidia_args import nvidia_ways

            found.say("packages_missing_cdi_works" if nvidia_ways(facts).cdi else
                      "packages_missing", missing=", ".join(missing),
                      installed=", ".join(tk.installed_packages), **values)
        elif tk.hook is None and not missing:
            found.say("hook_not_on_path", **values)

    def _daemon_side(self, facts: Facts, tk: ToolkitInfo, found: Findings,
                     values: dict[str, Any]) -> None:
        from gpudoctor.facts.toolkit import daemon_hook_for, describe_time

        d = facts.docker
        hook = daemon_hook_for(facts)
        if not hook.daemon_known:
            why = ("the host root did not capture its processes" if not d.processes_known else
                   "no dockerd process serves this endpoint" if d.mode != "remote" else
                   "the daemon runs on another machine")
            found.evidence.append(f"dockerd's PATH: unknown ({why}); whether it saw the hook "
                                  "cannot be told")
            return
        found.evidence.append(
            f"dockerd's PATH: {hook.path_env}" if hook.path_known else
            f"dockerd's PATH: unreadable (run as root to see it); assuming systemd's "
            f"{hook.path_env}")
        found.evidence.append(f"dockerd started: {describe_time(hook.daemon_started)}")
        if hook.hook is None:
            if tk.hook is not None:
                found.say("hook_not_on_dockerd_path", hook_path=tk.hook,
                          folder=tk.hook.rsplit("/", 1)[0], path_env=hook.path_env, **values)
            return
        found.evidence.append(f"hook on dockerd's PATH: {hook.hook} (installed "
                              f"{describe_time(hook.hook_installed)}: {hook.hook_evidence})")
        if hook.installed_after_start and not hook.upgraded_in_place:
            found.say("installed_after_dockerd", pid=d.process.pid if d.process else "?",
                      daemon_started=describe_time(hook.daemon_started), hook_path=hook.hook,
                      hook_installed=describe_time(hook.hook_installed),
                      hook_evidence=hook.hook_evidence, **values)
        elif hook.upgraded_in_place and tk.dpkg_event is not None:
            found.evidence.append(
                f"dpkg.log: {tk.dpkg_event.when} upgrade {tk.dpkg_event.old} -> "
                f"{tk.dpkg_event.new}: the hook was already there when dockerd started")
